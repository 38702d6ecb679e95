"""Batched OMP (both regimes) against scikit-learn, the numpy reference and invariants."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import orthogonal_mp_gram

from mplib.pursuit import reference as ref
from mplib.pursuit import sparse_encode
from mplib.pursuit._common import PREMATURE

from .pursuit_problems import sparse_signals, unit_dictionary

REGIMES = ["gram", "residual"]


def sklearn_codes(X, D, S=None, tol=None):
    """scikit-learn's Gram-path OMP, native orientation (B, N)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = orthogonal_mp_gram(
            D @ D.T, D @ X.T, n_nonzero_coefs=S, tol=tol,
            norms_squared=None if tol is None else (X**2).sum(1),
        )
    return np.atleast_2d(out.T)


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize(
    ("d", "N", "S", "B", "seed"),
    [(16, 40, 4, 200, 0), (32, 128, 8, 200, 1), (64, 256, 16, 100, 2), (20, 20, 10, 100, 3)],
)
def test_matches_sklearn(regime, d, N, S, B, seed):
    """Spec §6: identical supports for >= 99.9 % of signals (here: all), coefficients close."""
    D = unit_dictionary(seed, N, d)
    X = np.random.default_rng(seed + 100).standard_normal((B, d))
    ours = sparse_encode(X, D, n_nonzero_coefs=S, regime=regime)
    theirs = sklearn_codes(X, D, S)
    np.testing.assert_array_equal(ours.codes != 0, theirs != 0)
    np.testing.assert_allclose(ours.codes, theirs, rtol=1e-9, atol=1e-10)
    assert (ours.n_iter == S).all()


@pytest.mark.parametrize("regime", REGIMES)
def test_tol_matches_sklearn(regime):
    D = unit_dictionary(4, 80, 30)
    X = np.random.default_rng(5).standard_normal((50, 30))
    tol = 0.3 * (X**2).sum(1).mean()
    ours = sparse_encode(X, D, tol=tol, regime=regime)
    theirs = sklearn_codes(X, D, tol=tol)
    np.testing.assert_array_equal(ours.codes != 0, theirs != 0)
    np.testing.assert_allclose(ours.codes, theirs, rtol=1e-9, atol=1e-10)
    r2 = (ours.residual**2).sum(1)
    assert (r2 <= tol * (1 + 1e-12)).all()


@pytest.mark.parametrize("regime", REGIMES)
def test_regimes_agree_with_reference_non_unit(regime):
    """Non-unit atoms: raw |c| selection (scikit-learn's rule) and normalize=True, vs reference."""
    rng = np.random.default_rng(7)
    D = rng.standard_normal((50, 20)) * rng.uniform(0.2, 3.0, (50, 1))
    X = rng.standard_normal((25, 20))
    for normalize in (False, True):
        ours = sparse_encode(X, D, n_nonzero_coefs=6, regime=regime, normalize=normalize)
        for i, x in enumerate(X):
            r = ref.orthogonal_mp(x, D, 6, normalize=normalize)
            np.testing.assert_allclose(ours.codes[i], r.codes, rtol=1e-9, atol=1e-10)
    raw = sparse_encode(X, D, n_nonzero_coefs=6, regime=regime).codes
    np.testing.assert_allclose(raw, sklearn_codes(X, D, 6), rtol=1e-9, atol=1e-10)
    normed = sparse_encode(X, D, n_nonzero_coefs=6, regime=regime, normalize=True).codes
    assert ((raw != 0) != (normed != 0)).any()  # the two rules really differ here


def test_reference_matches_sklearn():
    D = unit_dictionary(8, 40, 16) * 10.0  # one non-unit norm for all atoms, as sklearn's tests
    X = np.random.default_rng(9).standard_normal((20, 16))
    theirs = sklearn_codes(X, D, 5)
    for i, x in enumerate(X):
        np.testing.assert_allclose(ref.orthogonal_mp(x, D, 5).codes, theirs[i], atol=1e-10)


@pytest.mark.parametrize("regime", REGIMES)
def test_residual_orthogonal_to_selected_atoms(regime):
    """Spec §6: max |D_Λ r| <= 1e-8 ‖x‖ in fp64."""
    D = unit_dictionary(10, 100, 40)
    X = np.random.default_rng(11).standard_normal((60, 40)) * 5
    res = sparse_encode(X, D, n_nonzero_coefs=12, regime=regime)
    corr = np.abs(res.residual @ D.T) * (res.codes != 0)
    assert (corr.max(1) <= 1e-8 * np.linalg.norm(X, axis=1)).all()
    np.testing.assert_allclose(res.residual, X - res.codes @ D, atol=1e-12)


@pytest.mark.parametrize("regime", REGIMES)
def test_residual_non_increasing_along_path(regime):
    D = unit_dictionary(12, 60, 20)
    X = np.random.default_rng(13).standard_normal((30, 20))
    res = sparse_encode(X, D, n_nonzero_coefs=10, regime=regime, return_path=True)
    assert res.path.shape == (10, 30, 60)
    np.testing.assert_array_equal(res.path[-1], res.codes)
    err = ((X[None] - res.path @ D) ** 2).sum(-1)
    assert (np.diff(err, axis=0) <= 1e-12).all()
    for k in range(10):  # step k has k+1 atoms
        assert ((res.path[k] != 0).sum(1) == k + 1).all()


def test_path_matches_sklearn():
    D = unit_dictionary(14, 35, 25)
    X = np.random.default_rng(15).standard_normal((3, 25))
    ours = sparse_encode(X, D, n_nonzero_coefs=5, regime="residual", return_path=True).path
    G = D @ D.T
    for i, x in enumerate(X):
        coefs = orthogonal_mp_gram(G, D @ x, n_nonzero_coefs=5, return_path=True)
        np.testing.assert_allclose(ours[:, i].T, coefs, atol=1e-10)


@pytest.mark.parametrize("regime", REGIMES)
def test_exact_recovery(regime):
    D = unit_dictionary(16, 128, 64)
    X, Z = sparse_signals(17, D, 100, 6)
    res = sparse_encode(X, D, n_nonzero_coefs=6, regime=regime)
    np.testing.assert_array_equal(res.codes != 0, Z != 0)
    np.testing.assert_allclose(res.codes, Z, atol=1e-10)
    # A larger budget stops at the exact representation, without a warning.
    big = sparse_encode(X, D, n_nonzero_coefs=12, regime=regime)
    np.testing.assert_array_equal(big.codes != 0, Z != 0)
    assert (big.n_iter == 6).all()


@pytest.mark.parametrize("regime", REGIMES)
def test_batch_and_chunk_invariance(regime):
    D = unit_dictionary(18, 90, 24)
    X = np.random.default_rng(19).standard_normal((40, 24))
    full = sparse_encode(X, D, n_nonzero_coefs=7, regime=regime).codes
    for lo, hi in [(0, 1), (5, 17), (17, 40)]:
        part = sparse_encode(X[lo:hi], D, n_nonzero_coefs=7, regime=regime).codes
        np.testing.assert_allclose(part, full[lo:hi], rtol=1e-12, atol=1e-13)
    chunked = sparse_encode(X, D, n_nonzero_coefs=7, regime="residual", chunk_size=7).codes
    np.testing.assert_allclose(chunked, full, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("regime", REGIMES)
def test_per_signal_budgets_and_tols_equal_single_runs(regime):
    D = unit_dictionary(20, 70, 18)
    X = np.random.default_rng(21).standard_normal((12, 18))
    budgets = np.arange(1, 13)
    tols = np.linspace(0.5, 8.0, 12)
    res = sparse_encode(X, D, n_nonzero_coefs=budgets, tol=tols, regime=regime)
    for i in range(12):
        one = sparse_encode(X[i : i + 1], D, n_nonzero_coefs=int(budgets[i]), tol=float(tols[i]),
                            regime=regime)
        np.testing.assert_allclose(res.codes[i], one.codes[0], rtol=1e-12, atol=1e-13)
        assert res.n_iter[i] == one.n_iter[0]
        stop_by_tol = res.n_iter[i] < budgets[i]
        assert (not stop_by_tol) or (res.residual[i] ** 2).sum() <= tols[i]


def test_tol_already_met_gives_no_atom():
    D = unit_dictionary(22, 30, 10)
    X = np.random.default_rng(23).standard_normal((4, 10))
    tol = (X**2).sum(1) * (1 + 1e-9)  # each signal is already within its tol
    for regime in REGIMES:
        res = sparse_encode(X, D, tol=tol, regime=regime)
        assert (res.n_iter == 0).all() and (res.codes == 0).all()


@pytest.mark.parametrize("regime", REGIMES)
def test_duplicate_atoms_warn_once(regime):
    """Spec §6: duplicate atoms — one warning per call, finite output."""
    base = unit_dictionary(24, 5, 10)
    D = np.concatenate([base, base, base])  # rank 5, 15 atoms
    X = np.random.default_rng(25).standard_normal((20, 10))
    with pytest.warns(RuntimeWarning, match="ended prematurely") as rec:
        res = sparse_encode(X, D, n_nonzero_coefs=8, regime=regime)
    assert len(rec) == 1 and str(rec[0].message) == PREMATURE
    assert np.isfinite(res.codes).all()
    assert ((res.codes != 0).sum(1) <= 5).all()
    lstsq = np.linalg.lstsq(base.T, X.T, rcond=None)[0].T
    np.testing.assert_allclose(res.residual, X - lstsq @ base, atol=1e-10)


@pytest.mark.parametrize("regime", REGIMES)
def test_zero_signal_and_zero_atom(regime):
    D = unit_dictionary(26, 20, 8)
    D[3] = 0.0
    X = np.random.default_rng(27).standard_normal((6, 8))
    X[2] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = sparse_encode(X, D, n_nonzero_coefs=4, regime=regime)
    assert np.isfinite(res.codes).all() and (res.codes[:, 3] == 0).all()
    assert (res.codes[2] == 0).all() and res.n_iter[2] == 0
    assert (res.n_iter[[0, 1, 3, 4, 5]] == 4).all()


@pytest.mark.parametrize("regime", REGIMES)
def test_full_budget_is_least_squares(regime):
    D = unit_dictionary(28, 12, 30)  # undercomplete: OMP with every atom = least squares
    X = np.random.default_rng(29).standard_normal((10, 30))
    res = sparse_encode(X, D, n_nonzero_coefs=12, regime=regime)
    lstsq = np.linalg.lstsq(D.T, X.T, rcond=None)[0].T
    np.testing.assert_allclose(res.codes, lstsq, atol=1e-10)


@pytest.mark.parametrize("regime", REGIMES)
def test_float32_in_float32_out(regime, device):
    D = unit_dictionary(30, 64, 32)
    X = np.random.default_rng(31).standard_normal((50, 32))
    ref64 = sparse_encode(X, D, n_nonzero_coefs=6, regime=regime).codes
    res = sparse_encode(X.astype(np.float32), D.astype(np.float32), n_nonzero_coefs=6,
                        regime=regime)
    assert res.codes.dtype == np.float32 and res.residual.dtype == np.float32
    agree = ((res.codes != 0) == (ref64 != 0)).all(1).mean()
    assert agree >= 0.95
    t = sparse_encode(torch.tensor(X, dtype=torch.float32, device=device),
                      torch.tensor(D, dtype=torch.float32, device=device),
                      n_nonzero_coefs=6, regime=regime)
    assert t.codes.dtype == torch.float32 and t.codes.device.type == device.type
    np.testing.assert_allclose(t.codes.cpu().numpy(), res.codes, atol=1e-4)


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("scale", [1e-150, 1e-30, 1e30, 1e150])
def test_scale_invariance(regime, scale):
    """Thresholds are relative: any scale gives the scaled codes (powers of 10, not 2: close)."""
    D = unit_dictionary(32, 40, 16)
    X = np.random.default_rng(33).standard_normal((10, 16))
    base = sparse_encode(X, D, n_nonzero_coefs=5, regime=regime)
    res = sparse_encode(X * scale, D, n_nonzero_coefs=5, regime=regime)
    np.testing.assert_allclose(res.codes / scale, base.codes, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(res.n_iter, base.n_iter)
    res_d = sparse_encode(X, D * scale, n_nonzero_coefs=5, regime=regime)
    np.testing.assert_allclose(res_d.codes * scale, base.codes, rtol=1e-10, atol=1e-12)


def test_auto_regime_picks_and_agrees():
    from mplib.pursuit.api import choose_regime

    assert choose_regime(5000, 256, 1024, 32) == "gram"
    assert choose_regime(4096, 576, 16384, 64) == "residual"
    assert choose_regime(2, 256, 1024, 8) == "residual"  # G would not pay off
    assert choose_regime(500, 64, 256, 64) == "residual"  # S >= d: the GEMM wins
    assert choose_regime(500, 64, 256, 256, by_tol=True) == "gram"
    D = unit_dictionary(34, 50, 20)
    X = np.random.default_rng(35).standard_normal((30, 20))
    auto = sparse_encode(X, D, n_nonzero_coefs=4).codes
    np.testing.assert_allclose(auto, sparse_encode(X, D, n_nonzero_coefs=4, regime="residual")
                               .codes, atol=1e-12)
