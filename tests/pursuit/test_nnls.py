"""Batched active-set NNLS and non-negative OMP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import nnls as scipy_nnls

from mplib.pursuit import nnls, sparse_encode
from mplib.pursuit import reference as ref
from mplib.pursuit._nnls import nnls_gram

from .pursuit_problems import sparse_signals, unit_dictionary


def kkt_violation(X, D, Z):
    """Largest violation of the NNLS KKT conditions, relative to ‖x‖·max‖d‖."""
    W = (X - Z @ D) @ D.T  # minus the gradient
    on = np.where(Z > 0, np.abs(W), 0.0).max(1)
    off = np.where(Z == 0, np.maximum(W, 0.0), 0.0).max(1)
    scale = np.linalg.norm(X, axis=1) * np.linalg.norm(D, axis=1).max()
    return np.maximum(on, off) / np.where(scale > 0, scale, 1.0)


@pytest.mark.parametrize(("N", "d"), [(8, 20), (30, 20), (60, 15)])
def test_matches_scipy_and_kkt(N, d):
    rng = np.random.default_rng(N)
    D = rng.standard_normal((N, d))
    X = rng.standard_normal((25, d)) + 0.5 * rng.standard_normal(d)
    res = nnls(X, D)
    assert (res.codes >= 0).all() and res.converged.all()
    assert (kkt_violation(X, D, res.codes) <= 1e-7).all()
    for i, x in enumerate(X):
        z, rnorm = scipy_nnls(D.T, x)
        # Overcomplete problems may have several minimizers: compare the residual norms.
        assert np.linalg.norm(res.residual[i]) <= rnorm * (1 + 1e-9) + 1e-12
        if N <= d:
            np.testing.assert_allclose(res.codes[i], z, atol=1e-9)


def test_noiseless_and_noisy_recovery():
    """After overcomplete's test_multi_nnls: recovery of non-negative codes."""
    D = unit_dictionary(1, 20, 40)
    rng = np.random.default_rng(2)
    Z = rng.uniform(0, 1, (50, 20)) * (rng.uniform(size=(50, 20)) < 0.5)
    X = Z @ D
    np.testing.assert_allclose(nnls(X, D).codes, Z, atol=1e-10)
    noisy = nnls(X + 0.01 * rng.standard_normal(X.shape), D).codes
    assert (noisy >= 0).all()
    assert np.abs(noisy - Z).mean() < 0.01


def test_tighter_tolerance_smaller_error():
    D = np.random.default_rng(3).standard_normal((40, 30))
    X = np.random.default_rng(4).standard_normal((30, 30))
    loose = nnls(X, D, tol=0.3)
    tight = nnls(X, D, tol=1e-10)
    e_loose = (loose.residual**2).sum(1)
    e_tight = (tight.residual**2).sum(1)
    assert (e_tight <= e_loose * (1 + 1e-12)).all() and (e_tight < e_loose).any()
    assert (tight.n_iter >= loose.n_iter).all()


def test_warm_start_at_truth_stays():
    D = unit_dictionary(5, 25, 40)
    rng = np.random.default_rng(6)
    Z = rng.uniform(0.5, 1, (20, 25)) * (rng.uniform(size=(20, 25)) < 0.4)
    X = Z @ D
    res = nnls(X, D, init=Z)
    np.testing.assert_allclose(res.codes, Z, atol=1e-12)
    assert (res.n_iter == 1).all()  # one solve confirms the KKT conditions
    cold = nnls(X, D)
    assert (cold.n_iter > 1).all()


def test_float32_and_torch(device):
    D = np.random.default_rng(7).standard_normal((12, 20))
    X = np.random.default_rng(8).standard_normal((10, 20))
    r64 = nnls(X, D)
    r32 = nnls(torch.tensor(X, dtype=torch.float32, device=device),
               torch.tensor(D, dtype=torch.float32, device=device))
    assert r32.codes.dtype == torch.float32 and r32.codes.device.type == device.type
    np.testing.assert_allclose(r32.codes.cpu().numpy(), r64.codes, atol=2e-4)


def test_kernel_respects_allowed_and_inactive():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(4, 5, 9, generator=g, dtype=torch.float64)
    x = torch.randn(4, 9, generator=g, dtype=torch.float64)
    G, b = A @ A.transpose(1, 2), (A @ x.unsqueeze(-1)).squeeze(-1)
    allowed = torch.ones(4, 5, dtype=torch.bool)
    allowed[:, 2] = False
    active = torch.tensor([True, True, False, True])
    z0 = torch.full((4, 5), 0.25, dtype=torch.float64)
    out = nnls_gram(G, b, tol=torch.full((4,), 1e-12, dtype=torch.float64), z0=z0 * allowed,
                    allowed=allowed, active=active)
    assert (out.z[:, 2] == 0).all() and (out.z >= 0).all()
    assert torch.equal(out.z[2], (z0 * allowed)[2])  # inactive: returned as given
    for i in (0, 1, 3):
        keep = [0, 1, 3, 4]
        z, _ = scipy_nnls(A[i, keep].T.numpy(), x[i].numpy())
        np.testing.assert_allclose(out.z[i, keep].numpy(), z, atol=1e-10)


# --- non-negative OMP -------------------------------------------------------------------------


@pytest.mark.parametrize("normalize", [False, True])
def test_nn_omp_matches_reference(normalize):
    rng = np.random.default_rng(9)
    D = rng.standard_normal((50, 20)) * rng.uniform(0.5, 2.0, (50, 1))
    X = rng.standard_normal((30, 20))
    res = sparse_encode(X, D, n_nonzero_coefs=8, positive=True, normalize=normalize)
    for i, x in enumerate(X):
        r = ref.orthogonal_mp(x, D, 8, positive=True, normalize=normalize)
        np.testing.assert_allclose(res.codes[i], r.codes, rtol=1e-8, atol=1e-10)
        assert res.n_iter[i] == r.n_iter


def test_nn_omp_kkt_on_support_and_codes_non_negative():
    D = unit_dictionary(10, 80, 30)
    X = np.random.default_rng(11).standard_normal((60, 30))
    res = sparse_encode(X, D, n_nonzero_coefs=10, positive=True, return_sparse=True)
    assert (res.values >= 0).all()
    for i in range(60):
        sel = res.indices[i, : res.n_iter[i]]
        z = res.values[i, : res.n_iter[i]]
        viol = kkt_violation(X[i : i + 1], D[sel], z[None])
        assert viol[0] <= 1e-7


def test_nn_omp_residual_below_nn_mp():
    """Spec §6: NN-OMP's residual <= NN-MP's (same budget)."""
    D = unit_dictionary(12, 100, 40)
    X = np.random.default_rng(13).standard_normal((80, 40))
    omp = sparse_encode(X, D, n_nonzero_coefs=10, positive=True)
    mp = sparse_encode(X, D, algorithm="mp", n_nonzero_coefs=10, positive=True)
    e_omp, e_mp = (omp.residual**2).sum(1), (mp.residual**2).sum(1)
    assert (e_omp <= e_mp * (1 + 1e-9)).mean() >= 0.95
    assert e_omp.mean() < e_mp.mean()
    assert (omp.codes >= 0).all() and (mp.codes >= 0).all()


def test_nn_omp_exact_recovery():
    D = unit_dictionary(14, 128, 64)
    X, Z = sparse_signals(15, D, 50, 5, positive=True)
    res = sparse_encode(X, D, n_nonzero_coefs=5, positive=True)
    np.testing.assert_array_equal(res.codes != 0, Z != 0)
    np.testing.assert_allclose(res.codes, Z, atol=1e-10)
    big = sparse_encode(X, D, n_nonzero_coefs=10, positive=True)  # stops at the exact fit
    np.testing.assert_allclose(big.codes, Z, atol=1e-10)


def test_nn_omp_path_and_batch_invariance():
    D = unit_dictionary(16, 60, 20)
    X = np.random.default_rng(17).standard_normal((15, 20))
    res = sparse_encode(X, D, n_nonzero_coefs=6, positive=True, return_path=True, tol=2.0)
    np.testing.assert_array_equal(res.path[-1], res.codes)
    err = ((X[None] - res.path @ D) ** 2).sum(-1)
    assert (np.diff(err, axis=0) <= 1e-12).all()
    for i in (0, 7, 14):
        one = sparse_encode(X[i : i + 1], D, n_nonzero_coefs=6, positive=True, tol=2.0)
        np.testing.assert_allclose(one.codes[0], res.codes[i], atol=1e-12)
