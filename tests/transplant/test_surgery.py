"""transplant(): copies, tied vs untied sources, junk, post-processing; TransplantConfig."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mplib.transplant import (
    TransplantConfig,
    approximate_rows,
    match_vocabularies,
    normalize_vocabulary,
    transplant,
)
from tests.transplant._tiny import byte_level_tokenizer, wordpiece_tokenizer


@pytest.fixture(scope="module")
def setup():
    base, donor = byte_level_tokenizer(), wordpiece_tokenizer()
    m = match_vocabularies(normalize_vocabulary(base), normalize_vocabulary(donor),
                           base_rows=len(base), donor_rows=len(donor))
    g = np.random.default_rng(0)
    mats = {"Eb": g.standard_normal((len(base), 12)), "Hb": g.standard_normal((len(base), 12)),
            "Ed": g.standard_normal((len(donor), 24)), "Hd": g.standard_normal((len(donor), 24))}
    return m, mats


def test_tied_base_gets_one_matrix_from_the_donor_embeddings(setup):
    m, x = setup
    res = transplant(x["Eb"], None, x["Ed"], x["Hd"], m, TransplantConfig(k=4))
    assert res.lm_head is None and res.report["tied_base"]
    assert res.embed.shape == (m.n_rows, 12) and res.embed.dtype == x["Eb"].dtype
    a = approximate_rows(x["Ed"][m.new], x["Ed"][m.anchors[:, 0]], x["Eb"][m.anchors[:, 1]], k=4)
    np.testing.assert_array_equal(res.embed[m.new], a.rows)  # the donor head is never read
    assert res.report["sources"] == {"embed": "donor embed"}


def test_untied_base_gets_two_matrices_from_their_own_sources(setup):
    m, x = setup
    res = transplant(x["Eb"], x["Hb"], x["Ed"], x["Hd"], m, TransplantConfig(k=4))
    head = approximate_rows(x["Hd"][m.new], x["Hd"][m.anchors[:, 0]], x["Hb"][m.anchors[:, 1]],
                            k=4)
    np.testing.assert_array_equal(res.lm_head[m.new], head.rows)
    np.testing.assert_array_equal(res.lm_head[m.exact[:, 0]], x["Hb"][m.exact[:, 1]])
    assert not np.array_equal(res.approximations["embed"].indices,
                              res.approximations["lm_head"].indices)
    # an input-only (or tied) donor: its embeddings also feed the new head
    only = transplant(x["Eb"], x["Hb"], x["Ed"], None, m, TransplantConfig(k=4))
    emb = approximate_rows(x["Ed"][m.new], x["Ed"][m.anchors[:, 0]], x["Hb"][m.anchors[:, 1]],
                           k=4)
    np.testing.assert_array_equal(only.lm_head[m.new], emb.rows)
    assert "no separate donor head" in only.report["sources"]["lm_head"]


def test_exact_copies_bit_identical_and_junk_zero(setup):
    m, x = setup
    Eb = torch.from_numpy(x["Eb"]).to(torch.bfloat16)
    res = transplant(Eb, None, torch.from_numpy(x["Ed"]).float(), None, m, TransplantConfig(k=4))
    assert res.embed.dtype == torch.bfloat16
    assert torch.equal(res.embed[torch.from_numpy(m.exact[:, 0])],
                       Eb[torch.from_numpy(m.exact[:, 1])])
    assert (res.embed[torch.from_numpy(m.junk)] == 0).all()
    assert res.report["matrices"]["embed"]["n_new"] == len(m.new)
    json.dumps(res.report)  # plain JSON types


def test_noise_and_scale_touch_only_approximated_rows(setup):
    m, x = setup
    plain = transplant(x["Eb"], None, x["Ed"], None, m, TransplantConfig(k=4))
    cfg = TransplantConfig(k=4, new_vocab_noise=0.1, new_vocab_scale=0.5, seed=3)
    res = transplant(x["Eb"], None, x["Ed"], None, m, cfg)
    np.testing.assert_array_equal(res.embed[m.exact[:, 0]], plain.embed[m.exact[:, 0]])
    assert not np.allclose(res.embed[m.new], 0.5 * plain.embed[m.new])
    again = transplant(x["Eb"], None, x["Ed"], None, m, cfg)
    np.testing.assert_array_equal(res.embed, again.embed)  # seeded
    scaled = transplant(x["Eb"], None, x["Ed"], None, m, TransplantConfig(k=4, new_vocab_scale=2.0))
    np.testing.assert_allclose(scaled.embed[m.new], 2 * plain.embed[m.new])


def test_byte_and_prefix_copies_apply_to_the_matrix_they_name():
    base = normalize_vocabulary({"<0x41>": 0, "▁cat": 1, "▁dog": 2, "▁sun": 3},
                                rule="sentencepiece")
    donor = normalize_vocabulary({"A": 0, "Ġcats": 1, "Ġcat": 2, "Ġdog": 3, "Ġsun": 4})
    m = match_vocabularies(base, donor, base_rows=4, donor_rows=5)
    g = np.random.default_rng(1)
    Eb, Hb, Ed = g.standard_normal((4, 6)), g.standard_normal((4, 6)), g.standard_normal((5, 8))
    res = transplant(Eb, Hb, Ed, None, m,
                     TransplantConfig(k=1, byte_match="embed", prefix_match="lm_head"))
    np.testing.assert_array_equal(res.embed[0], Eb[0])  # byte match, embed only
    np.testing.assert_array_equal(res.lm_head[1], Hb[1])  # prefix "cat", lm_head only
    assert not np.array_equal(res.lm_head[0], Hb[0])
    assert not np.array_equal(res.embed[1], Eb[1])
    assert res.report["matrices"]["embed"]["n_byte_copies"] == 1
    assert res.report["matrices"]["lm_head"]["n_prefix_copies"] == 1


def test_bad_input(setup):
    m, x = setup
    with pytest.raises(ValueError, match="k must be below the donor width"):
        transplant(x["Eb"], None, x["Ed"], None, m, TransplantConfig(k=24))
    with pytest.raises(ValueError, match="donor matrix has"):
        transplant(x["Eb"], None, x["Ed"][:10], None, m)
    with pytest.raises(ValueError, match="base_head must have the width"):
        transplant(x["Eb"], x["Hb"][:, :3], x["Ed"], None, m)
    with pytest.raises(TypeError, match="config"):
        transplant(x["Eb"], None, x["Ed"], None, m, {"k": 3})
    with pytest.raises(TypeError, match="match"):
        transplant(x["Eb"], None, x["Ed"], None, None)


def test_config_round_trip_and_validation():
    cfg = TransplantConfig(method="knn_softmax", k=8, center=True, byte_match="both", seed=4)
    assert TransplantConfig.from_json(cfg.to_json()) == cfg
    for kwargs, match in [({"method": "x"}, "method"), ({"k": 0}, "k must be >= 1"),
                          ({"byte_match": "yes"}, "byte_match"), ({"temperature": 0}, "temp"),
                          ({"new_vocab_noise": -1.0}, "new_vocab_noise"),
                          ({"rule": "bpe"}, "rule"), ({"digit_rule": "x"}, "digit_rule")]:
        with pytest.raises(ValueError, match=match):
            TransplantConfig(**kwargs)
    with pytest.raises(TypeError, match="center"):
        TransplantConfig(center=1)
    with pytest.raises(ValueError, match="unknown"):
        TransplantConfig.from_dict({"kk": 3})
