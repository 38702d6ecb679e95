"""Multimodal recipe on a synthetic two-modality embedding with known modality structure."""

from __future__ import annotations

import numpy as np
import pytest

from mplib.experiments.modality import modality_saes
from mplib.metrics import modality_score


def two_modality_space(n=400, d=16, n_concepts=8, offset=0.8, noise=0.05, seed=0):
    """Shared concept + modality offset (+ for images, − for text) + noise, unit rows."""
    rng = np.random.default_rng(seed)
    concepts = rng.standard_normal((n_concepts, d))
    concepts /= np.linalg.norm(concepts, axis=1, keepdims=True)
    o = rng.standard_normal(d)
    o /= np.linalg.norm(o)

    def draw(m, sign):
        c = concepts[rng.integers(n_concepts, size=m)]
        x = c + sign * offset * o + noise * rng.standard_normal((m, d))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return {"img_train": draw(n, 1), "txt_train": draw(n, -1), "img_eval": draw(n // 4, 1),
            "txt_eval": draw(5 * (n // 4), -1), "report": {"synthetic": True}}


def test_modality_selective_latents_score_one_and_zero():
    space = two_modality_space()
    n_img, n_txt = len(space["img_eval"]), len(space["txt_eval"])
    # latent 0 fires on images only, latent 1 on text only, latent 2 on both (equal energy)
    zi = np.zeros((n_img, 3))
    zt = np.zeros((n_txt, 3))
    zi[:, 0] = 1.0
    zt[:, 1] = 1.0
    zi[:, 2] = 1.0
    zt[:, 2] = 1.0
    s = modality_score(zi, zt, captions_per_image=n_txt / n_img).score
    np.testing.assert_allclose(s, [1.0, 0.0, 0.5])


def test_modality_saes_on_the_fixture(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLIB_DATA", str(tmp_path))
    space = two_modality_space()
    runs = modality_saes(space, kinds=("topk", "mp"), expansion=4, k=2, epochs=2,
                         batch_size=100, stem="test_modality", tag="fixture")
    assert [r.kind for r in runs] == ["topk", "mp"]
    for r in runs:
        assert 0 <= r.multimodal_fraction <= 1 and 0 < r.alive_fraction <= 1
        assert np.all((r.scores >= 0) & (r.scores <= 1))
        assert r.l0 <= 2 + 1e-9
        assert r.codes_eval.shape == (len(space["img_eval"]) + len(space["txt_eval"]), 64)
    again = modality_saes(space, kinds=("topk",), expansion=4, k=2, epochs=2, batch_size=100,
                          stem="test_modality", tag="fixture")
    np.testing.assert_array_equal(again[0].scores, runs[0].scores)  # same seed, same numbers


def test_bad_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        modality_saes(two_modality_space(n=40), kinds=("vanilla",), epochs=1, batch_size=20,
                      stem="test_modality", tag="bad")
