"""Gradient pursuit and ACGP (and their non-negative variants) against references and OMP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.pursuit import reference as ref
from mplib.pursuit import sparse_encode
from mplib.pursuit._gp import gradient_pursuit

from .pursuit_problems import sparse_signals, unit_dictionary

REFS = {"gp": ref.gradient_pursuit, "acgp": ref.acgp}


@pytest.mark.parametrize("alg", ["gp", "acgp"])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("normalize", [False, True])
def test_matches_reference(alg, positive, normalize):
    rng = np.random.default_rng(1)
    D = rng.standard_normal((45, 15)) * rng.uniform(0.5, 2.0, (45, 1))
    X = rng.standard_normal((30, 15))
    res = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=8, positive=positive,
                        normalize=normalize)
    for i, x in enumerate(X):
        r = REFS[alg](x, D, 8, positive=positive, normalize=normalize)
        np.testing.assert_allclose(res.codes[i], r.codes, rtol=1e-8, atol=1e-10)
        assert res.n_iter[i] == r.n_iter
    np.testing.assert_allclose(res.residual, X - res.codes @ D, atol=1e-12)


@pytest.mark.parametrize("alg", ["gp", "acgp"])
def test_non_negative_cuts_are_exercised_and_match(alg):
    """Correlated atoms make NN steps hit zero: atoms leave and slots are refilled."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((1, 10))
    D = base + 0.5 * rng.standard_normal((40, 10))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((400, 10)) + base
    res = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=8, positive=True, max_iter=24)
    assert (res.codes >= 0).all()
    cut = np.flatnonzero(res.n_iter > (res.codes != 0).sum(1))  # some atom left the support
    assert len(cut) >= 3
    for i in [*cut, *range(20)]:
        r = REFS[alg](X[i], D, 8, positive=True, max_iter=24)
        np.testing.assert_allclose(res.codes[i], r.codes, rtol=1e-8, atol=1e-10)
        assert res.n_iter[i] == r.n_iter
    assert ((res.codes != 0).sum(1) <= 8).all() and (res.n_iter <= 24).all()


@pytest.mark.parametrize("alg", ["gp", "acgp"])
def test_orthonormal_dictionary_equals_omp(alg):
    """Spec §6: GP, ACGP and OMP coincide on an orthonormal dictionary."""
    Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((20, 20)))
    D = Q.T  # orthonormal rows
    X = np.random.default_rng(4).standard_normal((25, 20))
    omp = sparse_encode(X, D, n_nonzero_coefs=7).codes
    np.testing.assert_allclose(sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=7).codes, omp,
                               atol=1e-12)


def test_acgp_beats_gp_on_average():
    """Spec §6: ACGP's residual <= GP's on average (fixed seed, margin), and OMP's <= ACGP's."""
    D = unit_dictionary(5, 256, 64)
    X = np.random.default_rng(6).standard_normal((300, 64))
    err = {
        alg: (sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=24).residual ** 2).sum(1).mean()
        for alg in ("gp", "acgp", "omp")
    }
    assert err["acgp"] < 0.99 * err["gp"]
    assert err["omp"] <= err["acgp"] * (1 + 1e-9)


@pytest.mark.parametrize("alg", ["gp", "acgp"])
@pytest.mark.parametrize("positive", [False, True])
def test_residual_non_increasing(alg, positive):
    D = unit_dictionary(7, 80, 20)
    X = np.random.default_rng(8).standard_normal((30, 20))
    res = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=12, positive=positive,
                        return_path=True)
    err = ((X[None] - res.path @ D) ** 2).sum(-1)
    err = np.concatenate([(X**2).sum(1)[None], err])
    assert (np.diff(err, axis=0) <= 1e-12).all()
    np.testing.assert_array_equal(res.path[-1], res.codes)


@pytest.mark.parametrize("alg", ["gp", "acgp"])
def test_exact_recovery_on_incoherent_dictionary(alg):
    D = unit_dictionary(9, 128, 96)
    X, Z = sparse_signals(10, D, 40, 3)
    res = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=3)
    np.testing.assert_array_equal(res.codes != 0, Z != 0)
    # Right support, but 3 gradient steps do not reach the least-squares coefficients.
    rel = np.linalg.norm(res.residual, axis=1) / np.linalg.norm(X, axis=1)
    assert (rel < 0.2).all()


def test_zero_image_guard():
    """A signal whose direction image vanishes stops (no division by ‖c‖² = 0)."""
    X = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    D = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    for conj in (False, True):
        out = gradient_pursuit(X, D, torch.tensor([3, 3]), conjugate=conj)
        assert torch.isfinite(out.coef).all()
        assert out.n_iter.tolist() == [1, 0]


@pytest.mark.parametrize("alg", ["gp", "acgp"])
def test_batch_invariance_and_budgets(alg):
    D = unit_dictionary(11, 60, 16)
    X = np.random.default_rng(12).standard_normal((10, 16))
    budgets = np.arange(1, 11)
    res = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=budgets, tol=1.0)
    for i in range(10):
        one = sparse_encode(X[i : i + 1], D, algorithm=alg, n_nonzero_coefs=int(budgets[i]),
                            tol=1.0, chunk_size=13)
        np.testing.assert_allclose(res.codes[i], one.codes[0], rtol=1e-12, atol=1e-13)
        assert res.n_iter[i] == one.n_iter[0]
