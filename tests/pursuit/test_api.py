"""sparse_encode's contract: types, dtypes, devices, shapes, sparse output, edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from mplib.pursuit import PursuitResult, decode_sparse, sparse_encode

from .pursuit_problems import unit_dictionary

ALGS = ["mp", "omp", "gp", "acgp"]


@pytest.fixture
def XD():
    D = unit_dictionary(0, 50, 16)
    X = np.random.default_rng(1).standard_normal((20, 16))
    return X, D


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("positive", [False, True])
def test_numpy_in_numpy_out(XD, alg, positive):
    X, D = XD
    res = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=5, positive=positive,
                        return_path=True)
    assert isinstance(res, PursuitResult)
    assert res.codes.shape == (20, 50) and res.residual.shape == (20, 16)
    assert res.n_iter.shape == (20,) and res.n_iter.dtype == np.int64
    assert res.path.shape[1:] == (20, 50) and res.path.shape[0] == res.n_iter.max()
    assert res.indices is None and res.values is None
    assert isinstance(res.codes, np.ndarray) and res.codes.dtype == np.float64
    np.testing.assert_allclose(res.residual, X - res.codes @ D, atol=1e-12)


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out(XD, alg, dtype, device):
    X = torch.tensor(XD[0], dtype=dtype, device=device)
    D = torch.tensor(XD[1], dtype=dtype, device=device)
    res = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=5)
    for t in (res.codes, res.residual):
        assert isinstance(t, torch.Tensor) and t.dtype == dtype and t.device.type == device.type
    assert res.n_iter.dtype == torch.int64 and res.n_iter.device.type == device.type
    ref = sparse_encode(XD[0], XD[1], algorithm=alg, n_nonzero_coefs=5).codes
    tol = 1e-4 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(res.codes.cpu().numpy(), ref, atol=tol)


def test_half_precision_computed_in_float32(XD):
    X = torch.tensor(XD[0], dtype=torch.bfloat16)
    D = torch.tensor(XD[1], dtype=torch.bfloat16)
    res = sparse_encode(X, D, n_nonzero_coefs=3)
    assert res.codes.dtype == torch.bfloat16 and torch.isfinite(res.codes.float()).all()
    res16 = sparse_encode(XD[0].astype(np.float16), XD[1].astype(np.float16), n_nonzero_coefs=3)
    assert res16.codes.dtype == np.float16


def test_mixed_inputs_follow_X(XD):
    X, D = XD
    a = sparse_encode(X, torch.tensor(D), n_nonzero_coefs=3)
    assert isinstance(a.codes, np.ndarray)
    b = sparse_encode(torch.tensor(X, dtype=torch.float32), D, n_nonzero_coefs=3)
    assert isinstance(b.codes, torch.Tensor) and b.codes.dtype == torch.float64  # promoted


def test_requires_grad_inputs_are_fine(XD):
    X = torch.tensor(XD[0], requires_grad=True)
    D = torch.tensor(XD[1], requires_grad=True)
    res = sparse_encode(X, D, n_nonzero_coefs=3)
    assert not res.codes.requires_grad


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("positive", [False, True])
def test_sparse_output_decodes_to_dense(XD, alg, positive):
    X, D = XD
    dense = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=6, positive=positive)
    sp = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=6, positive=positive,
                       return_sparse=True)
    assert sp.codes is None and sp.indices.shape == sp.values.shape
    assert sp.indices.dtype == np.int64 and sp.indices.shape[0] == 20
    np.testing.assert_allclose(decode_sparse(sp.indices, sp.values, D), dense.codes @ D,
                               atol=1e-12)
    rebuilt = np.zeros_like(dense.codes)
    np.add.at(rebuilt, (np.arange(20)[:, None], sp.indices), sp.values)
    np.testing.assert_allclose(rebuilt, dense.codes, atol=1e-12)
    np.testing.assert_allclose(sp.residual, dense.residual, atol=1e-12)


def test_sparse_output_gram_regime(XD):
    X, D = XD
    sp = sparse_encode(X, D, n_nonzero_coefs=4, regime="gram", return_sparse=True)
    dense = sparse_encode(X, D, n_nonzero_coefs=4, regime="gram").codes
    assert sp.indices.shape == (20, 4)
    np.testing.assert_allclose(decode_sparse(sp.indices, sp.values, D), dense @ D, atol=1e-12)


def test_decode_sparse_torch_and_errors():
    D = torch.eye(3, dtype=torch.float64)
    out = decode_sparse(torch.tensor([[2, 2]]), torch.tensor([[1.0, 0.5]]), D)
    assert torch.equal(out, torch.tensor([[0.0, 0.0, 1.5]], dtype=torch.float64))
    with pytest.raises(ValueError, match="indices must lie in"):
        decode_sparse(np.array([[3]]), np.array([[1.0]]), np.eye(3))
    with pytest.raises(ValueError, match="same 2-D shape"):
        decode_sparse(np.array([[0, 1]]), np.array([[1.0]]), np.eye(3))
    with pytest.raises(TypeError, match="indices must be integers"):
        decode_sparse(np.array([[0.0]]), np.array([[1.0]]), np.eye(3))


@pytest.mark.parametrize("alg", ALGS)
def test_empty_batch(XD, alg):
    X, D = XD
    res = sparse_encode(X[:0], D, algorithm=alg, n_nonzero_coefs=3, return_path=True)
    assert res.codes.shape == (0, 50) and res.residual.shape == (0, 16)
    assert res.n_iter.shape == (0,) and res.path.shape == (0, 0, 50)


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("positive", [False, True])
def test_degenerate_dictionaries_stay_finite(alg, positive):
    """Zero, duplicate and tiny atoms, zero and huge signals: finite, at most one warning."""
    D = unit_dictionary(2, 12, 6)
    D = np.concatenate([D, D[:3], np.zeros((2, 6)), 1e-300 * D[:2]])
    X = np.random.default_rng(3).standard_normal((8, 6))
    X[0] = 0.0
    X[1] *= 1e300
    X[2] = D[0] + D[12]  # a duplicate pair
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=10 if alg == "mp" else 6,
                            positive=positive)
    assert len(rec) <= 1 and all(issubclass(w.category, RuntimeWarning) for w in rec)
    assert np.isfinite(res.codes).all() and np.isfinite(res.residual).all()
    assert (res.codes[0] == 0).all() and res.n_iter[0] == 0  # zero signal
    assert (res.codes[:, 15:17] == 0).all()  # zero atoms are never selected
    recon = X - res.codes @ D
    scale = np.abs(X).max(1, keepdims=True) + 1.0  # the huge row is checked relatively
    np.testing.assert_allclose(res.residual / scale, recon / scale, atol=1e-12)
    if positive:
        assert (res.codes >= 0).all()


@pytest.mark.parametrize("alg", ALGS)
def test_n_iter_and_budget_semantics(XD, alg):
    X, D = XD
    res = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=7)
    assert (res.n_iter == 7).all()
    assert ((res.codes != 0).sum(1) <= 7).all()
    tol_only = sparse_encode(X, D, algorithm=alg, tol=1.0)
    assert ((tol_only.residual**2).sum(1) <= 1.0).all()


@pytest.mark.parametrize(
    ("alg", "positive", "regime"),
    [("omp", False, "residual"), ("omp", False, "gram"), ("omp", True, "auto"),
     ("gp", False, "auto"), ("acgp", True, "auto"), ("mp", False, "auto")],
)
def test_tol_only_grows_past_the_first_capacity(alg, positive, regime):
    """A tol-only run has a budget of N atoms; slots are allocated by doubling (64, 128, …)."""
    from mplib.pursuit import reference as ref

    refs = {"mp": ref.matching_pursuit, "omp": ref.orthogonal_mp, "gp": ref.gradient_pursuit,
            "acgp": ref.acgp}
    D = unit_dictionary(40, 160, 100)
    X = np.random.default_rng(41).standard_normal((4, 100))
    if positive:
        X = np.abs(X) @ np.abs(D[:100]) / 10  # plenty of positive correlations
    tol = 1e-4 * (X**2).sum(1)
    res = sparse_encode(X, D, algorithm=alg, tol=tol, positive=positive, regime=regime,
                        return_path=True)
    assert res.n_iter.max() > 64
    np.testing.assert_array_equal(res.path[-1], res.codes)
    for i, x in enumerate(X):
        r = refs[alg](x, D, 160, tol=tol[i], positive=positive)
        assert res.n_iter[i] == r.n_iter
        np.testing.assert_allclose(res.codes[i], r.codes, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("alg", ALGS)
def test_non_negative_float32(XD, alg):
    X, D = XD
    r64 = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=5, positive=True)
    r32 = sparse_encode(X.astype(np.float32), D.astype(np.float32), algorithm=alg,
                        n_nonzero_coefs=5, positive=True)
    assert r32.codes.dtype == np.float32 and (r32.codes >= 0).all()
    agree = ((r32.codes != 0) == (r64.codes != 0)).all(1)
    assert agree.mean() >= 0.9
    np.testing.assert_allclose(r32.codes[agree], r64.codes[agree], atol=1e-4)


@pytest.mark.parametrize("alg", ["omp", "gp", "acgp"])
def test_orthogonal_budget_above_n_features_raises(XD, alg):
    X, D = XD  # 16 features, 50 atoms
    with pytest.raises(ValueError, match=r"n_nonzero_coefs must be <= n_features \(16\)"):
        sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=17)
    per_sample = np.full(len(X), 16)
    per_sample[3] = 20
    with pytest.raises(ValueError, match="n_features"):
        sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=per_sample)
    assert sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=16).n_iter.max() <= 16


def test_mp_may_take_more_steps_than_n_features(XD):
    X, D = XD
    res = sparse_encode(X, D, algorithm="mp", n_nonzero_coefs=40)
    assert res.n_iter.max() == 40  # MP revisits atoms: more steps than the 16 dimensions
    np.testing.assert_allclose(res.residual, X - res.codes @ D, atol=1e-12)
    # the default budget (0.1 * n_atoms) is capped, never an error, even for wide dictionaries
    wide = unit_dictionary(2, 400, 16)
    assert sparse_encode(X, wide).n_iter.max() <= 16
