"""Anchors, copies, new tokens and junk between two normalised vocabularies."""

from __future__ import annotations

import numpy as np
import pytest

from mplib.transplant import match_vocabularies, normalize_vocabulary
from tests.transplant._tiny import byte_level_tokenizer, wordpiece_tokenizer


@pytest.fixture(scope="module")
def pair():
    base, donor = byte_level_tokenizer(), wordpiece_tokenizer()
    return base, donor, normalize_vocabulary(base), normalize_vocabulary(donor)


def test_anchors_sorted_by_donor_id_and_below_row_counts(pair):
    base, donor, bv, dv = pair
    m = match_vocabularies(bv, dv, base_rows=len(base), donor_rows=len(donor))
    assert np.all(np.diff(m.anchors[:, 0]) > 0)
    assert (m.anchors[:, 0] < len(donor)).all() and (m.anchors[:, 1] < len(base)).all()
    np.testing.assert_array_equal(m.exact, m.anchors)
    bvocab, dvocab = base.get_vocab(), donor.get_vocab()
    pairs = {tuple(p) for p in m.anchors.tolist()}
    assert (dvocab["hello"], bvocab["Ġhello"]) in pairs  # WORD_START ↔ WORD_START
    assert (dvocab["##ing"], bvocab["ing"]) in pairs  # continuation ↔ plain
    assert dvocab["zebra"] in m.new and dvocab["[CLS]"] in m.new
    assert set(m.junk.tolist()) == {dvocab[f"[unused{i}]"] for i in range(3)}
    every = set(m.anchors[:, 0].tolist()) | set(m.new.tolist()) | set(m.junk.tolist())
    assert every == set(dvocab.values())  # every donor id lands exactly once
    assert len(m.anchors) + len(m.new) + len(m.junk) == len(dvocab)
    assert m.n_rows == max(dvocab.values()) + 1


def test_row_counts_cut_anchors(pair):
    base, donor, bv, dv = pair
    cut = 100
    m = match_vocabularies(bv, dv, base_rows=len(base), donor_rows=cut)
    assert (m.anchors[:, 0] < cut).all() and (m.new < cut).all()
    assert set(range(cut, len(donor))) <= set(m.junk.tolist())
    m = match_vocabularies(bv, dv, base_rows=cut, donor_rows=len(donor))
    assert (m.anchors[:, 1] < cut).all()


def test_hidden_tokens_leave_the_anchors(pair):
    base, donor, bv, dv = pair
    full = match_vocabularies(bv, dv, base_rows=len(base), donor_rows=len(donor))
    hide = full.anchors[::3, 0]
    m = match_vocabularies(bv, dv, base_rows=len(base), donor_rows=len(donor), hidden=hide)
    assert not set(hide.tolist()) & set(m.anchors[:, 0].tolist())
    assert set(hide.tolist()) <= set(m.new.tolist())
    np.testing.assert_array_equal(m.hidden, np.sort(hide))


def test_collision_losers_are_new():
    base = normalize_vocabulary({"Ġa": 0, "Ġb": 1})
    donor = normalize_vocabulary({"a▁": 0, "a ": 3, "▁a": 1, "▁b": 2}, rule="sentencepiece")
    m = match_vocabularies(base, donor, base_rows=2, donor_rows=4)
    assert m.n_collisions == 1 and 3 in m.new


def test_magikarp_filter():
    base = normalize_vocabulary({"Ġa": 0, "Ġb": 1, "Ġc": 2})
    donor = normalize_vocabulary({"Ġa": 0, "Ġb": 1, "Ġc": 2, "Ġd": 3})
    base_ok = np.array([True, False, False])
    donor_ok = np.array([True, True, False, False])
    m = match_vocabularies(base, donor, base_rows=3, donor_rows=4, magikarp=(base_ok, donor_ok))
    assert m.anchors.tolist() == [[0, 0]]  # well trained in both
    assert m.new.tolist() == [1]  # well trained in the donor only
    assert m.junk.tolist() == [2, 3]  # in neither model


def test_byte_and_prefix_candidates():
    base = normalize_vocabulary({"<0x41>": 0, "▁cat": 1, "▁ca": 2}, rule="sentencepiece")
    donor = normalize_vocabulary({"A": 0, "Ġcats": 1, "Ġcat": 2})
    m = match_vocabularies(base, donor, base_rows=3, donor_rows=3)
    assert m.byte_pairs.tolist() == [[0, 0]]
    assert m.prefix_pairs.tolist() == [[1, 1]]  # longest proper prefix "cat", not "ca"


def test_bad_input(pair):
    _, _, bv, dv = pair
    with pytest.raises(ValueError, match="base_rows"):
        match_vocabularies(bv, dv, base_rows=0, donor_rows=10)
    with pytest.raises(ValueError, match="donor_rows"):
        match_vocabularies(bv, dv, base_rows=10, donor_rows=-1)
    with pytest.raises(TypeError, match="donor"):
        match_vocabularies(bv, {"a": 0}, base_rows=10, donor_rows=10)
    with pytest.raises(TypeError, match="magikarp"):
        match_vocabularies(bv, dv, base_rows=10, donor_rows=10, magikarp=[1, 2, 3])
