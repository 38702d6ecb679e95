"""Batch-OMP Gram kernel against scikit-learn's ``orthogonal_mp_gram`` and by invariants.

Every test runs twice: ``backend="auto"`` (the compiled numba kernel for CPU tensors when numba
is installed) and ``backend="torch"`` (the batched torch kernel, which also serves CUDA).
"""

from __future__ import annotations

import functools
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import orthogonal_mp_gram

from mplib.pursuit import _omp_gram

omp_gram = _omp_gram.omp_gram


@pytest.fixture(autouse=True, params=["auto", "torch"])
def backend(request, monkeypatch):
    """Route this module's ``omp_gram`` calls through one backend."""
    monkeypatch.setattr(
        sys.modules[__name__], "omp_gram",
        functools.partial(_omp_gram.omp_gram, backend=request.param),
    )
    return request.param


def _problem(seed, d, n_atoms, n_signals, *, scale=None):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_atoms, d))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    if scale is not None:
        D *= scale
    X = rng.standard_normal((n_signals, d))
    return D, X


def _sklearn(G, A0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        coef, n_iter = orthogonal_mp_gram(G, A0.T, return_n_iter=True, **kw)
    return coef.reshape(len(G), -1).T, np.atleast_1d(n_iter)


def _ours(D, X, S, device="cpu", **kw):
    G = torch.as_tensor(D @ D.T, device=device)
    A0 = torch.as_tensor(X @ D.T, device=device)
    budget = torch.full((len(X),), S, dtype=torch.long)
    return omp_gram(G, A0, n_nonzero_coefs=budget, **kw)


@pytest.mark.parametrize(
    "d, n_atoms, S, n_signals, seed",
    [(16, 40, 4, 300, 0), (64, 256, 8, 400, 1), (32, 64, 32, 100, 2), (128, 512, 24, 150, 3)],
)
def test_matches_sklearn_random(d, n_atoms, S, n_signals, seed, device):
    """Spec §6 oracle: identical supports for >= 99.9 % of signals, coefficients allclose."""
    D, X = _problem(seed, d, n_atoms, n_signals)
    ref, ref_iter = _sklearn(D @ D.T, X @ D.T, n_nonzero_coefs=S)
    out = _ours(D, X, S, device=device, chunk_size=37)
    coef = out.coef.cpu().numpy()
    same = ((coef != 0) == (ref != 0)).all(1)
    assert same.mean() >= 0.999
    np.testing.assert_allclose(coef[same], ref[same], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(out.n_iter.cpu().numpy(), ref_iter)
    assert not out.early_stop


def test_non_unit_atoms_match_sklearn():
    """Cholesky update with G_jj (scikit-learn PR #10071): unequal norms stay exact."""
    rng = np.random.default_rng(5)
    D, X = _problem(5, 24, 60, 200, scale=rng.uniform(0.2, 5.0, size=(60, 1)))
    ref, _ = _sklearn(D @ D.T, X @ D.T, n_nonzero_coefs=10)
    coef = _ours(D, X, 10).coef.numpy()
    assert ((coef != 0) == (ref != 0)).all()
    np.testing.assert_allclose(coef, ref, rtol=1e-9, atol=1e-10)


def test_tol_matches_sklearn_and_bounds_residual():
    D, X = _problem(6, 32, 80, 120)
    norms = (X**2).sum(1)
    tol = 0.3 * norms.mean()
    ref, ref_iter = _sklearn(D @ D.T, X @ D.T, tol=tol, norms_squared=norms)
    out = _ours(
        D,
        X,
        80,
        tol=torch.full((120,), tol),
        norms_squared=torch.as_tensor(norms),
    )
    np.testing.assert_array_equal(out.n_iter.numpy(), ref_iter)
    np.testing.assert_allclose(out.coef.numpy(), ref, rtol=1e-9, atol=1e-10)
    resid = ((X - out.coef.numpy() @ D) ** 2).sum(1)
    assert (resid <= tol * (1 + 1e-9)).all()
    np.testing.assert_allclose(out.residual_energy.numpy(), resid, rtol=1e-8, atol=1e-10)


def test_budget_caps_tol():
    """Budget and tol together: whichever comes first (per signal)."""
    D, X = _problem(7, 32, 80, 50)
    norms = torch.as_tensor((X**2).sum(1))
    budget = torch.arange(50) % 5 + 1
    out = omp_gram(
        torch.as_tensor(D @ D.T),
        torch.as_tensor(X @ D.T),
        n_nonzero_coefs=budget,
        tol=torch.full((50,), 1e-12),
        norms_squared=norms,
    )
    np.testing.assert_array_equal(out.n_iter.numpy(), budget.numpy())


def test_tol_requires_norms():
    with pytest.raises(ValueError, match="norms_squared"):
        omp_gram(
            torch.eye(3),
            torch.ones(2, 3),
            n_nonzero_coefs=torch.ones(2, dtype=torch.long),
            tol=torch.ones(2),
        )


def test_path_matches_sklearn_and_ends_at_solution():
    D, X = _problem(8, 20, 45, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ref = orthogonal_mp_gram(D @ D.T, (X @ D.T).T, n_nonzero_coefs=6, return_path=True)
    out = _ours(D, X, 6, return_path=True, chunk_size=7)
    assert out.path.shape == (6, 30, 45)
    np.testing.assert_allclose(out.path.numpy(), ref.transpose(2, 1, 0), atol=1e-10)
    np.testing.assert_array_equal(out.path[-1].numpy(), out.coef.numpy())


def test_path_repeats_final_solution_after_early_stop():
    D, X = _problem(9, 20, 45, 12)
    budget = torch.tensor([1, 2, 3, 6] * 3)
    out = omp_gram(
        torch.as_tensor(D @ D.T),
        torch.as_tensor(X @ D.T),
        n_nonzero_coefs=budget,
        return_path=True,
        chunk_size=4,
    )
    for b, s in enumerate(budget.tolist()):
        for k in range(s - 1, 6):
            torch.testing.assert_close(out.path[k, b], out.coef[b], rtol=0, atol=0)
        assert int((out.path[s - 1, b] != 0).sum()) == s


def test_batch_and_chunk_invariance():
    """Spec §6: a signal's result depends neither on the others nor on the chunk size."""
    D, X = _problem(10, 24, 70, 40)
    budget = torch.arange(40) % 7 + 1
    G, A0 = torch.as_tensor(D @ D.T), torch.as_tensor(X @ D.T)
    full = omp_gram(G, A0, n_nonzero_coefs=budget)
    for chunk in (1, 3, 40):
        out = omp_gram(G, A0, n_nonzero_coefs=budget, chunk_size=chunk)
        torch.testing.assert_close(out.coef, full.coef, rtol=0, atol=1e-13)
    for b in (0, 5, 39):
        single = omp_gram(G, A0[b : b + 1], n_nonzero_coefs=budget[b : b + 1])
        torch.testing.assert_close(single.coef[0], full.coef[b], rtol=0, atol=1e-13)
        assert int(single.n_iter[0]) == int(budget[b])


def test_residual_orthogonal_to_support():
    """Invariant: max |D_Λ r| <= 1e-8 ‖x‖ in fp64."""
    D, X = _problem(11, 64, 200, 100)
    coef = _ours(D, X, 20).coef.numpy()
    R = X - coef @ D
    corr = np.abs(R @ D.T) * (coef != 0)
    assert (corr.max(1) <= 1e-8 * np.linalg.norm(X, axis=1)).all()


def test_exact_recovery():
    rng = np.random.default_rng(12)
    D, _ = _problem(12, 128, 256, 1)
    Z = np.zeros((50, 256))
    for z in Z:
        z[rng.choice(256, 4, replace=False)] = rng.choice([-1, 1], 4) * rng.uniform(1, 2, 4)
    coef = _ours(D, Z @ D, 4).coef.numpy()
    np.testing.assert_array_equal(coef != 0, Z != 0)
    np.testing.assert_allclose(coef, Z, atol=1e-10)


def test_duplicate_atom_stops_cleanly_like_sklearn():
    D, _ = _problem(13, 16, 30, 1)
    D[1] = D[0]
    X = (D[0] + D[1] + 0.5 * D[7])[None]  # needs atoms 0 and 7; atom 1 adds nothing
    G = D @ D.T
    with pytest.warns(RuntimeWarning, match="ended prematurely"):
        ref = orthogonal_mp_gram(G, (X @ D.T)[0], n_nonzero_coefs=3)
    out = _ours(D, X, 3)
    assert out.early_stop
    assert torch.isfinite(out.coef).all()
    assert int(out.n_iter[0]) == 2
    np.testing.assert_allclose(out.coef[0].numpy(), ref, atol=1e-12)


def test_zero_signal_and_zero_atom():
    D, X = _problem(14, 16, 30, 5)
    D[3] = 0.0
    X[2] = 0.0
    out = _ours(D, X, 5)
    assert torch.isfinite(out.coef).all()
    assert (out.coef[2] == 0).all() and int(out.n_iter[2]) == 0
    assert (out.coef[:, 3] == 0).all()
    assert out.early_stop  # the zero signal stopped before its budget, as in scikit-learn
    others = [0, 1, 3, 4]
    assert (out.n_iter[others] == 5).all()


def test_full_budget_is_least_squares():
    """Budget N on a tall dictionary (N < d): OMP ends at the least-squares solution."""
    D, X = _problem(15, 12, 8, 10)
    coef = _ours(D, X, 8).coef.numpy()
    lstsq = np.linalg.lstsq(D.T, X.T, rcond=None)[0].T
    np.testing.assert_allclose(coef, lstsq, atol=1e-10)


def test_float32_preserved_and_close(device):
    D, X = _problem(16, 32, 64, 50)
    G = torch.as_tensor(D @ D.T, dtype=torch.float32, device=device)
    A0 = torch.as_tensor(X @ D.T, dtype=torch.float64, device=device)  # cast to G's dtype
    out = omp_gram(G, A0, n_nonzero_coefs=torch.full((50,), 5), return_path=True)
    assert out.coef.dtype == torch.float32 and out.path.dtype == torch.float32
    assert out.coef.device.type == device.type
    ref = _ours(D, X, 5).coef.numpy()
    same = ((out.coef.cpu().numpy() != 0) == (ref != 0)).all(1)
    assert same.mean() >= 0.95
    np.testing.assert_allclose(out.coef.cpu().numpy()[same], ref[same], atol=1e-4)


def test_zero_budget_and_empty_batch():
    D, X = _problem(17, 8, 10, 3)
    out = omp_gram(
        torch.as_tensor(D @ D.T),
        torch.as_tensor(X @ D.T),
        n_nonzero_coefs=torch.zeros(3, dtype=torch.long),
        return_path=True,
    )
    assert (out.coef == 0).all() and (out.n_iter == 0).all() and out.path.shape == (0, 3, 10)
    empty = omp_gram(
        torch.as_tensor(D @ D.T),
        torch.zeros(0, 10, dtype=torch.float64),
        n_nonzero_coefs=torch.zeros(0, dtype=torch.long),
    )
    assert empty.coef.shape == (0, 10)


def test_tol_zero_grows_capacity_and_stops_like_sklearn():
    """tol=0 with d < N: more steps than the first capacity (64), then a dependent atom."""
    D, X = _problem(18, 70, 100, 6)
    norms = (X**2).sum(1)
    ref, ref_iter = _sklearn(D @ D.T, X @ D.T, tol=0.0, norms_squared=norms)
    out = _ours(D, X, 100, tol=torch.zeros(6), norms_squared=torch.as_tensor(norms))
    assert out.early_stop
    np.testing.assert_array_equal(out.n_iter.numpy(), ref_iter)
    np.testing.assert_allclose(out.coef.numpy(), ref, atol=1e-8)
    assert (out.n_iter == 70).all()


def test_compaction_with_mixed_budgets_and_workers():
    """Rows leave their chunk as budgets run out; results equal one signal at a time."""
    D, X = _problem(19, 32, 90, 64)
    budget = torch.tensor([1, 30] * 32)
    G, A0 = torch.as_tensor(D @ D.T), torch.as_tensor(X @ D.T)
    out = omp_gram(G, A0, n_nonzero_coefs=budget, chunk_size=16, n_workers=2, return_path=True)
    for b in (0, 1, 62, 63):
        single = omp_gram(G, A0[b : b + 1], n_nonzero_coefs=budget[b : b + 1])
        torch.testing.assert_close(out.coef[b], single.coef[0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out.n_iter.numpy(), budget.numpy())
    torch.testing.assert_close(out.path[-1], out.coef, rtol=0, atol=0)
    assert out.path.shape == (30, 64, 90)


def test_worker_threads_leave_torch_threading_alone():
    """Workers run with one intra-op thread each and restore the default for new threads."""
    import threading

    D, X = _problem(20, 16, 40, 30)
    G, A0 = torch.as_tensor(D @ D.T), torch.as_tensor(X @ D.T)
    before = torch.get_num_threads()
    budget = torch.full((30,), 5)
    one = omp_gram(G, A0, n_nonzero_coefs=budget, n_workers=1, chunk_size=4)
    two = omp_gram(G, A0, n_nonzero_coefs=budget, n_workers=2, chunk_size=4)
    torch.testing.assert_close(one.coef, two.coef, rtol=0, atol=0)
    assert torch.get_num_threads() == before
    seen = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert seen == [before]
