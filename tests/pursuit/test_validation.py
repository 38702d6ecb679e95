"""Input validation and conversions shared by every pursuit entry point."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.pursuit import nnls, sparse_encode
from mplib.pursuit._validation import check_budget, check_tol, default_n_nonzero_coefs

from .pursuit_problems import unit_dictionary

ALGS = ["mp", "omp", "gp", "acgp"]


@pytest.fixture
def XD():
    D = unit_dictionary(0, 12, 6)
    X = np.random.default_rng(0).standard_normal((4, 6))
    return X, D


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"n_nonzero_coefs": 0}, ValueError, "n_nonzero_coefs must be >= 1"),
        ({"n_nonzero_coefs": -3}, ValueError, "n_nonzero_coefs must be >= 1"),
        ({"n_nonzero_coefs": 13}, ValueError, r"n_nonzero_coefs must be <= n_atoms \(12\)"),
        ({"n_nonzero_coefs": [1, 2, 3]}, ValueError, r"n_nonzero_coefs .* shape \(4,\)"),
        ({"n_nonzero_coefs": [1, 2, 0, 1]}, ValueError, "n_nonzero_coefs must be >= 1"),
        ({"n_nonzero_coefs": 2.5}, TypeError, "n_nonzero_coefs"),
        ({"n_nonzero_coefs": [1.0, 2.0, 1.0, 1.0]}, TypeError, "n_nonzero_coefs"),
        ({"n_nonzero_coefs": True}, TypeError, "n_nonzero_coefs"),
        ({"tol": -1.0}, ValueError, "tol must be >= 0"),
        ({"tol": float("nan")}, ValueError, "tol must be a non-negative float, got nan"),
        ({"tol": [0.1, 0.2]}, ValueError, r"tol .* shape \(4,\)"),
        ({"tol": "0.1"}, TypeError, "tol"),
        ({"positive": 1}, TypeError, "positive"),
        ({"return_path": "yes"}, TypeError, "return_path"),
        ({"normalize": None}, TypeError, "normalize"),
        ({"regime": "fast"}, ValueError, "regime must be one of"),
        ({"chunk_size": 0}, ValueError, "chunk_size must be >= 1"),
        ({"max_iter": 1.5}, TypeError, "max_iter"),
        ({"return_path": True, "return_sparse": True}, ValueError, "return_path"),
    ],
)
def test_bad_options_raise_naming_the_parameter(XD, alg, kw, exc, match):
    X, D = XD
    with pytest.raises(exc, match=match):
        sparse_encode(X, D, algorithm=alg, **kw)


def test_unknown_algorithm(XD):
    X, D = XD
    with pytest.raises(ValueError, match="algorithm must be one of"):
        sparse_encode(X, D, algorithm="lars")


@pytest.mark.parametrize("alg", ["mp", "gp"])
def test_gram_regime_only_for_signed_omp(XD, alg):
    X, D = XD
    with pytest.raises(ValueError, match="regime='gram'"):
        sparse_encode(X, D, algorithm=alg, regime="gram")
    with pytest.raises(ValueError, match="regime='gram'"):
        sparse_encode(X, D, positive=True, regime="gram")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "D"])
def test_non_finite_input(XD, bad, where):
    X, D = XD[0].copy(), XD[1].copy()
    (X if where == "X" else D)[1, 2] = bad
    with pytest.raises(ValueError, match=f"{where} must be finite"):
        sparse_encode(X, D)


def test_shapes(XD):
    X, D = XD
    with pytest.raises(ValueError, match="X must be 2-D"):
        sparse_encode(X[0], D)
    with pytest.raises(ValueError, match="D must be 2-D"):
        sparse_encode(X, D[None])
    with pytest.raises(ValueError, match="n_features = 6"):
        sparse_encode(X, D[:, :5])
    with pytest.raises(ValueError, match="at least one atom"):
        sparse_encode(X, D[:0])


def test_types(XD):
    X, D = XD
    with pytest.raises(TypeError, match="X must be a real numeric array"):
        sparse_encode(X.astype(complex), D)
    with pytest.raises(TypeError, match="D must be an array"):
        sparse_encode(X, "D")
    with pytest.raises(TypeError, match="X must be real"):
        sparse_encode(torch.ones(2, 6, dtype=torch.complex64), D)


def test_devices_must_match(XD):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    X, D = XD
    with pytest.raises(ValueError, match="same device"):
        sparse_encode(torch.as_tensor(X).cuda(), torch.as_tensor(D))


def test_default_budget():
    assert default_n_nonzero_coefs(5) == 1  # not 0 (scikit-learn's Gram path raises there)
    assert default_n_nonzero_coefs(35) == 3
    b = check_budget(None, 3, 100, torch.device("cpu"))
    assert b.tolist() == [10, 10, 10]
    b = check_budget(np.array([1, 2, 3], dtype=np.int32), 3, 100, torch.device("cpu"))
    assert b.dtype == torch.int64 and b.tolist() == [1, 2, 3]
    assert check_tol(None, 3, torch.device("cpu")) is None
    assert check_budget(torch.tensor(4), 2, 9, torch.device("cpu")).tolist() == [4, 4]
    assert check_tol(np.float32(0.5), 2, torch.device("cpu")).tolist() == [0.5, 0.5]
    assert check_tol(torch.tensor(0.25), 2, torch.device("cpu")).tolist() == [0.25, 0.25]
    assert check_tol(0, 2, torch.device("cpu")).tolist() == [0.0, 0.0]


def test_default_budget_used(XD):
    X, D = XD  # 12 atoms → max(int(1.2), 1) = 1
    assert (sparse_encode(X, D).n_iter == 1).all()


def test_integers_promote_to_float64():
    D = np.eye(4, dtype=np.int64)
    X = np.array([[3, 0, -1, 0]], dtype=np.int32)
    res = sparse_encode(X, D, n_nonzero_coefs=1)
    assert res.codes.dtype == np.float64 and res.residual.dtype == np.float64
    np.testing.assert_array_equal(res.codes, [[3.0, 0, 0, 0]])
    rt = sparse_encode(torch.tensor(X), torch.tensor(D), n_nonzero_coefs=1)
    assert rt.codes.dtype == torch.float64


@pytest.mark.parametrize("alg", ALGS)
def test_read_only_inputs_untouched(XD, alg):
    X, D = XD[0].copy(), XD[1].copy()
    X0, D0 = X.copy(), D.copy()
    X.setflags(write=False)
    D.setflags(write=False)
    res = sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=3, positive=alg == "omp")
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(D, D0)
    assert np.isfinite(res.codes).all()


@pytest.mark.parametrize("alg", ALGS)
def test_torch_inputs_untouched(XD, alg):
    X = torch.tensor(XD[0])
    D = torch.tensor(XD[1])
    X0, D0 = X.clone(), D.clone()
    sparse_encode(X, D, algorithm=alg, n_nonzero_coefs=3, tol=0.1)
    assert torch.equal(X, X0) and torch.equal(D, D0)


def test_fortran_and_c_order_agree(XD):
    X, D = XD
    a = sparse_encode(X, D, n_nonzero_coefs=3).codes
    b = sparse_encode(np.asfortranarray(X), np.asfortranarray(D), n_nonzero_coefs=3).codes
    np.testing.assert_array_equal(a, b)


def test_big_endian_input(XD):
    X, D = XD
    a = sparse_encode(X, D, n_nonzero_coefs=3).codes
    b = sparse_encode(X.astype(">f8"), D, n_nonzero_coefs=3).codes
    np.testing.assert_array_equal(a, b)


def test_nnls_bad_input(XD):
    X, D = XD
    with pytest.raises(ValueError, match="tol must be a non-negative"):
        nnls(X, D, tol=-1.0)
    with pytest.raises(ValueError, match="init must have shape"):
        nnls(X, D, init=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="max_iter must be >= 1"):
        nnls(X, D, max_iter=0)
    with pytest.raises(ValueError, match="X must be finite"):
        nnls(np.full((1, 6), np.nan), D)
