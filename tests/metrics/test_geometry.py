"""Babel (global, co-selected) and coherence histograms against closed forms and loops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import mplib.metrics._validation as validation
from mplib.metrics import babel, babel_coselected, coherence_histogram, pairwise_cosines


def unit(D):
    return D / np.linalg.norm(D, axis=-1, keepdims=True)


def naive_babel(D, r):
    G = np.abs(unit(D) @ unit(D).T)
    best = 0.0
    for i in range(len(D)):
        others = np.sort(np.delete(G[i], i))[::-1]
        best = max(best, others[:r].sum())
    return best


def naive_coselected(D, Z):
    per_r = {}
    for z in Z:
        S = np.flatnonzero(z)
        for r in range(1, len(S)):
            per_r.setdefault(r, []).append(naive_babel(D[S], r))
    return per_r


def test_babel_orthonormal_is_zero(rng):
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    np.testing.assert_allclose(babel(q.T), 0.0, atol=1e-12)


def test_babel_duplicated_atoms_is_r(rng):
    atom = rng.normal(size=5)
    D = np.outer(rng.choice([-2.0, 0.5, 3.0], size=9), atom)  # copies, any sign and norm
    np.testing.assert_allclose(babel(D), np.arange(1, 9), rtol=1e-12)


def test_babel_matches_naive_loop_across_chunks(rng, monkeypatch):
    D = rng.normal(size=(13, 6))
    expected = [naive_babel(D, r) for r in range(1, 13)]
    np.testing.assert_allclose(babel(D), expected, rtol=1e-12)
    monkeypatch.setattr(validation, "CHUNK_ENTRIES", 30)  # 2 rows per chunk
    np.testing.assert_allclose(babel(D), expected, rtol=1e-12)
    np.testing.assert_allclose(babel(D, r_max=3), expected[:3], rtol=1e-12)


def test_babel_is_nondecreasing_and_subadditive_bound(rng):
    mu = babel(rng.normal(size=(30, 8)))
    assert np.all(np.diff(mu) >= -1e-12)
    assert np.all(mu <= np.arange(1, 30) * mu[0] + 1e-12)  # μ₁(r) <= r μ₁(1)


def test_babel_runs_and_device(rng, device):
    D = rng.normal(size=(3, 10, 4))
    got = babel(torch.tensor(D, device=device))
    assert got.shape == (3, 9)
    np.testing.assert_allclose(got, [babel(d) for d in D], rtol=1e-12)


def test_babel_bad_r_max(rng):
    with pytest.raises(ValueError, match="r_max"):
        babel(rng.normal(size=(4, 3)), r_max=4)
    with pytest.raises(ValueError, match="dictionary"):
        babel(np.ones((1, 3)))


def random_support_codes(rng, n, p, max_k):
    Z = np.zeros((n, p))
    for z in Z:
        k = rng.integers(0, max_k + 1)
        z[rng.choice(p, size=k, replace=False)] = rng.normal(size=k)
    return Z


def test_babel_coselected_matches_naive_loop(rng, monkeypatch):
    D, Z = rng.normal(size=(15, 6)), random_support_codes(rng, 40, 15, 6)
    ref = naive_coselected(D, Z)
    monkeypatch.setattr(validation, "CHUNK_ENTRIES", 200)  # several chunks of inputs
    res = babel_coselected(D, Z)
    r_max = max(ref)
    assert res.babel.shape == (r_max,)
    for r in range(1, r_max + 1):
        assert res.n_inputs[r - 1] == len(ref[r])
        assert res.babel[r - 1] == pytest.approx(np.mean(ref[r]), rel=1e-12)


def test_babel_coselected_below_global(rng):
    D, Z = rng.normal(size=(20, 5)), random_support_codes(rng, 50, 20, 8)
    res = babel_coselected(D, Z)
    assert np.all(res.babel <= babel(D)[: len(res.babel)] + 1e-12)


def test_babel_coselected_orthonormal_and_edge_cases(rng):
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    Z = random_support_codes(rng, 30, 8, 5)
    np.testing.assert_allclose(babel_coselected(q, Z).babel, 0.0, atol=1e-12)
    single = np.eye(8)[:5]  # one atom per input: no co-selection at all
    res = babel_coselected(q, single)
    assert res.babel.shape == (0,) and res.n_inputs.shape == (0,)
    res = babel_coselected(q, single, r_max=2)  # asked beyond the data: NaN with a zero count
    assert np.isnan(res.babel).all() and (res.n_inputs == 0).all()


def test_babel_coselected_runs(rng):
    D = rng.normal(size=(2, 12, 5))
    Z = np.stack([random_support_codes(rng, 25, 12, 4), random_support_codes(rng, 25, 12, 6)])
    res = babel_coselected(D, Z)
    r = res.babel.shape[-1]
    for b in range(2):
        one = babel_coselected(D[b], Z[b], r_max=r)
        np.testing.assert_allclose(res.babel[b], one.babel, rtol=1e-12)
        np.testing.assert_array_equal(res.n_inputs[b], one.n_inputs)
    shared = babel_coselected(D[0], Z, r_max=r)  # one dictionary, two sets of codes
    np.testing.assert_allclose(shared.babel[0], res.babel[0], rtol=1e-12)
    with pytest.raises(ValueError, match="codes"):
        babel_coselected(D, np.stack([Z[0]] * 3))
    with pytest.raises(ValueError, match="codes"):
        babel_coselected(D, Z[..., :5])


def test_pairwise_cosines_exhaustive(rng):
    D = rng.normal(size=(9, 4))
    G = unit(D) @ unit(D).T
    np.testing.assert_allclose(pairwise_cosines(D), G[np.triu_indices(9, 1)], rtol=1e-12)


def test_pairwise_cosines_sampled_is_seeded_and_valid(rng):
    D = rng.normal(size=(40, 6))
    G = unit(D) @ unit(D).T
    a = pairwise_cosines(D, max_pairs=500, seed=3)
    assert a.shape == (500,)
    np.testing.assert_array_equal(a, pairwise_cosines(D, max_pairs=500, seed=3))
    assert not np.array_equal(a, pairwise_cosines(D, max_pairs=500, seed=4))
    offdiag = G[np.triu_indices(40, 1)]
    assert np.isin(np.round(a, 12), np.round(offdiag, 12)).all()  # never a diagonal entry
    # the sample's distribution follows the full set's (780 pairs, 20,000 draws)
    big = pairwise_cosines(D, max_pairs=20_000, seed=0)
    assert abs(big.mean() - offdiag.mean()) < 0.01
    assert abs(np.abs(big).mean() - np.abs(offdiag).mean()) < 0.01


def test_coherence_histogram(rng):
    D = rng.normal(size=(30, 5))
    h = coherence_histogram(D, bins=20)
    values = pairwise_cosines(D)
    np.testing.assert_array_equal(h.counts, np.histogram(values, bins=20, range=(-1, 1))[0])
    assert h.counts.sum() == h.n_pairs == 435 and not h.sampled
    assert (h.density * np.diff(h.edges)).sum() == pytest.approx(1.0)
    s = coherence_histogram(D, bins=20, max_pairs=100, seed=1)
    assert s.sampled and s.counts.sum() == 100


def test_coherence_histogram_orthonormal_and_runs(rng):
    q = np.stack([np.linalg.qr(rng.normal(size=(6, 6)))[0] for _ in range(2)])
    h = coherence_histogram(q, bins=4)
    assert h.counts.shape == (2, 4)
    # |⟨d_i, d_j⟩| ~ 1e-16 lands on either side of 0: the two central bins hold everything
    np.testing.assert_array_equal(h.counts[:, [0, 3]], 0)
    np.testing.assert_array_equal(h.counts.sum(-1), 15)


@pytest.mark.parametrize("bad", [(1.0, -1.0), (0.0, np.inf), "ab", (1,)])
def test_coherence_histogram_bad_range(rng, bad):
    with pytest.raises(ValueError, match="range"):
        coherence_histogram(rng.normal(size=(4, 3)), range=bad)


def test_all_pairs_count_formula():
    for p in (2, 3, 7):
        assert len(pairwise_cosines(np.eye(p))) == len(list(itertools.combinations(range(p), 2)))
