"""Blockwise sparse coding on Dask: lazy codes equal to the in-memory call."""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from mplib.pursuit import sparse_encode  # noqa: E402
from mplib.pursuit._dask import encode_dask, is_dask_array  # noqa: E402


@pytest.fixture
def problem(rng):
    D = rng.standard_normal((96, 24))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((210, 24))
    return X, D


# Chunk-by-chunk pursuit differs from the whole batch only by BLAS summation order.
ATOL = 1e-12


@pytest.mark.parametrize("algorithm", ["omp", "mp", "gp", "acgp"])
def test_blockwise_equals_in_memory(problem, algorithm):
    X, D = problem
    Xd = da.from_array(X, chunks=(50, 12))
    res = sparse_encode(Xd, D, algorithm=algorithm, n_nonzero_coefs=6)
    assert is_dask_array(res.codes) and is_dask_array(res.residual)
    ref = sparse_encode(X, D, algorithm=algorithm, n_nonzero_coefs=6)
    codes = res.codes.compute()
    np.testing.assert_array_equal(codes != 0, ref.codes != 0)
    np.testing.assert_allclose(codes, ref.codes, atol=ATOL)
    np.testing.assert_allclose(res.residual.compute(), ref.residual, atol=ATOL)
    np.testing.assert_array_equal(res.n_iter.compute(), ref.n_iter)


def test_per_sample_budgets_follow_the_row_chunks(problem):
    X, D = problem
    k = np.random.default_rng(1).integers(1, 9, size=len(X))
    Xd = da.from_array(X, chunks=(64, 24))
    res = sparse_encode(Xd, D, n_nonzero_coefs=k)
    ref = sparse_encode(X, D, n_nonzero_coefs=k)
    np.testing.assert_allclose(res.codes.compute(), ref.codes, atol=ATOL)
    np.testing.assert_array_equal((res.codes.compute() != 0).sum(1), k)


def test_dictionary_is_one_graph_key(problem):
    X, D = problem
    res = encode_dask(da.from_array(X, chunks=(30, 24)), D, n_nonzero_coefs=3)
    keys = [k for k in dict(res.codes.__dask_graph__()) if "mplib-dictionary" in str(k)]
    assert len(keys) == 1


def test_bad_input(problem):
    X, D = problem
    Xd = da.from_array(X, chunks=(50, 24))
    with pytest.raises(ValueError, match="return_path"):
        sparse_encode(Xd, D, return_path=True)
    with pytest.raises(ValueError, match="D must have shape"):
        sparse_encode(Xd, D[:, :5])
    with pytest.raises(ValueError, match="n_nonzero_coefs must have one entry"):
        sparse_encode(Xd, D, n_nonzero_coefs=np.ones(7, dtype=int))


@pytest.mark.slow
def test_two_worker_local_cluster(problem):
    distributed = pytest.importorskip("distributed")
    X, D = problem
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
        processes=True, silence_logs=40,
    ) as cluster, distributed.Client(cluster) as client:
        res = sparse_encode(da.from_array(X, chunks=(40, 24)), D, n_nonzero_coefs=5)
        codes = client.compute(res.codes).result()
    ref = sparse_encode(X, D, n_nonzero_coefs=5)
    np.testing.assert_allclose(codes, ref.codes, atol=ATOL)


def test_pursuit_coder_in_a_dask_ml_pipeline(problem):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mplib.pursuit import PursuitCoder

    X, D = problem
    D8 = D[:, :8].copy()
    X8 = X[:, :8]
    inner = make_pipeline(StandardScaler(), PursuitCoder(D8, n_nonzero_coefs=4))
    model = wrappers.ParallelPostFit(inner).fit(X8)
    out = model.transform(da.from_array(X8, chunks=(50, 8)))
    assert is_dask_array(out)
    np.testing.assert_allclose(out.compute(), inner.transform(X8), atol=ATOL)
