"""Realised L0, dead latents and effective rank against closed forms and a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

import mplib.metrics._validation as validation
from mplib.metrics import dead_fraction, dead_latents, effective_rank, l0


def sparse_codes(rng, n=200, p=12, density=0.2):
    z = rng.normal(size=(n, p)) * (rng.random((n, p)) < density)
    z[:, -2:] = 0  # two dead latents
    return z


def test_l0_counts_nonzeros(rng):
    z = sparse_codes(rng)
    assert l0(z) == pytest.approx(np.count_nonzero(z, axis=1).mean())
    assert l0(np.zeros((3, 4))) == 0.0
    assert l0(np.array([[0.05, 2.0, -0.2]]), tol=0.1) == 2.0


def test_dead_fraction_and_mask(rng):
    z = sparse_codes(rng)
    mask = dead_latents(z)
    np.testing.assert_array_equal(mask, ~(z != 0).any(0))
    assert mask[-2:].all()
    assert dead_fraction(z) == pytest.approx(mask.mean())
    assert dead_fraction(np.array([[0.05, 2.0, -0.2]]), tol=0.1) == pytest.approx(1 / 3)


def test_sparsity_over_runs(rng):
    z = np.stack([sparse_codes(rng, density=d) for d in (0.1, 0.3, 0.6)])
    np.testing.assert_allclose(l0(z), [l0(x) for x in z])
    np.testing.assert_allclose(dead_fraction(z), [dead_fraction(x) for x in z])
    assert dead_latents(z).shape == (3, 12)
    assert l0(torch.from_numpy(z) != 0).shape == (3,)  # bool tensors are fine


def numpy_erank(z):
    s = np.linalg.svd(z, compute_uv=False) ** 2  # eigenvalues of ZᵀZ
    q = s / s.sum()
    return float(np.exp(scipy.stats.entropy(q)))


def test_effective_rank_isotropic_codes_is_n_latents(rng):
    q, _ = np.linalg.qr(rng.normal(size=(50, 8)))  # orthonormal columns: ZᵀZ = 9 I
    assert effective_rank(3 * q) == pytest.approx(8.0, rel=1e-12)


def test_effective_rank_rank_one_is_one(rng):
    z = np.outer(rng.normal(size=40), rng.normal(size=6))
    assert effective_rank(z) == pytest.approx(1.0, abs=1e-9)


def test_effective_rank_matches_svd_reference_both_branches(rng):
    tall = sparse_codes(rng, n=100, p=10)  # n >= p: ZᵀZ
    wide = sparse_codes(rng, n=6, p=10, density=0.6)  # n < p: ZZᵀ
    for z in (tall, wide):
        assert effective_rank(z) == pytest.approx(numpy_erank(z), rel=1e-10)
    assert effective_rank(wide) <= 6 + 1e-9  # bounded by the rank


def test_effective_rank_invariances(rng):
    z = sparse_codes(rng)
    ref = effective_rank(z)
    assert effective_rank(-7.5 * z) == pytest.approx(ref, rel=1e-12)
    assert effective_rank(z[:, rng.permutation(12)]) == pytest.approx(ref, rel=1e-12)
    assert effective_rank(z[rng.permutation(200)]) == pytest.approx(ref, rel=1e-12)


def test_effective_rank_zero_codes_is_zero():
    assert effective_rank(np.zeros((5, 3))) == 0.0


def test_effective_rank_runs_and_chunks(rng, monkeypatch, device):
    z = np.stack([sparse_codes(rng, density=d) for d in (0.1, 0.5)])
    expected = [numpy_erank(x) for x in z]
    monkeypatch.setattr(validation, "CHUNK_ENTRIES", 100)
    got = effective_rank(torch.tensor(z, device=device, dtype=torch.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
