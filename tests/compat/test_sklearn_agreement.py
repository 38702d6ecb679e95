"""The drop-in against scikit-learn itself on random problems, dtypes, layouts and edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import decomposition as skd
from sklearn import linear_model as sklm
from sklearn.base import clone
from sklearn.linear_model._omp import premature as SK_PREMATURE
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mplib.compat.sklearn as ours


def _quiet(f, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return f(*args, **kw)


def _dictionary(seed, n_samples, n_features, n_targets, *, sparse=0):
    """Unit-norm atoms as columns (scikit-learn's orientation) and targets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    X /= np.linalg.norm(X, axis=0)
    if sparse:
        W = np.zeros((n_features, n_targets))
        for t in range(n_targets):
            W[rng.choice(n_features, sparse, replace=False), t] = rng.uniform(1, 2, sparse)
        return X, X @ W
    return X, rng.standard_normal((n_samples, n_targets))


@pytest.mark.parametrize(
    "d, N, S, T, seed", [(16, 40, 4, 200, 0), (64, 256, 10, 300, 1), (30, 30, 30, 50, 2)]
)
def test_functions_agree_with_sklearn_random(d, N, S, T, seed):
    """Spec §6: identical supports for >= 99.9 % of targets in fp64, coefficients allclose."""
    X, y = _dictionary(seed, d, N, T)
    ref = _quiet(sklm.orthogonal_mp_gram, X.T @ X, X.T @ y, n_nonzero_coefs=S)
    for got in (
        _quiet(ours.orthogonal_mp_gram, X.T @ X, X.T @ y, n_nonzero_coefs=S),
        _quiet(ours.orthogonal_mp, X, y, n_nonzero_coefs=S),
        _quiet(ours.orthogonal_mp, X, y, n_nonzero_coefs=S, precompute=True),
    ):
        same = ((got != 0) == (ref != 0)).all(0)
        assert same.mean() >= 0.999
        np.testing.assert_allclose(got[:, same], ref[:, same], rtol=1e-9, atol=1e-10)
    nosk = sklm.orthogonal_mp(X, y[:, :20], n_nonzero_coefs=S)  # Cholesky path, no Gram
    np.testing.assert_allclose(ours.orthogonal_mp(X, y[:, :20], n_nonzero_coefs=S), nosk,
                               atol=1e-9)  # fmt: skip


def test_tol_agrees_with_sklearn():
    X, y = _dictionary(3, 40, 120, 60)
    tol = 0.25 * (y**2).sum(0).mean()
    ref, ref_iter = sklm.orthogonal_mp(X, y, tol=tol, return_n_iter=True)
    got, got_iter = ours.orthogonal_mp(X, y, tol=tol, return_n_iter=True)
    assert got_iter == ref_iter
    np.testing.assert_allclose(got, ref, atol=1e-9)
    assert (((y - X @ got) ** 2).sum(0) <= tol).all()


def test_premature_text_is_sklearns():
    assert ours.PREMATURE == SK_PREMATURE


def test_duplicate_atoms_warn_once_per_call():
    X, y = _dictionary(4, 20, 30, 8)
    X[:, 1] = X[:, 0]
    y = X[:, :1] + X[:, 1:2] + 0.0 * y  # every target needs atoms 0 and 1: both warn
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        got = ours.orthogonal_mp(X, y, n_nonzero_coefs=2)
    assert [str(w.message) for w in rec] == [SK_PREMATURE]
    assert rec[0].category is RuntimeWarning and rec[0].filename == __file__
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, _quiet(sklm.orthogonal_mp, X, y, n_nonzero_coefs=2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_follow_sklearn(dtype):
    X, y = _dictionary(5, 30, 50, 4)
    X, y = X.astype(dtype), y.astype(dtype)
    G, Xy = X.T @ X, X.T @ y
    assert ours.orthogonal_mp_gram(G, Xy, n_nonzero_coefs=5).dtype == dtype
    for precompute in (False, True, "auto"):
        got = ours.orthogonal_mp(X, y, n_nonzero_coefs=5, precompute=precompute)
        assert got.dtype == sklm.orthogonal_mp(X, y, n_nonzero_coefs=5, precompute=precompute).dtype
    for fit_intercept in (True, False):
        a = ours.OrthogonalMatchingPursuit(n_nonzero_coefs=5, fit_intercept=fit_intercept)
        b = sklm.OrthogonalMatchingPursuit(n_nonzero_coefs=5, fit_intercept=fit_intercept)
        assert a.fit(X, y).coef_.dtype == b.fit(X, y).coef_.dtype
    ref64 = ours.orthogonal_mp_gram(G.astype(np.float64), Xy.astype(np.float64), n_nonzero_coefs=5)
    np.testing.assert_allclose(ours.orthogonal_mp_gram(G, Xy, n_nonzero_coefs=5), ref64,
                               rtol=1e-4, atol=1e-4)  # fmt: skip


def test_integer_input_promotes_to_float64():
    X = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 0]])
    y = np.array([2, 0, 0, 2])
    got = ours.orthogonal_mp(X, y, n_nonzero_coefs=1)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, [2.0, 0.0, 0.0])


def test_read_only_and_memory_layout():
    """Issue #5956: read-only inputs with copy_*=False; C and F order give the same result."""
    X, y = _dictionary(6, 25, 35, 3)
    G, Xy = X.T @ X, X.T @ y
    ref = ours.orthogonal_mp_gram(G, Xy, n_nonzero_coefs=4)
    for a in (G, Xy, X, y):
        a.setflags(write=False)
    got = ours.orthogonal_mp_gram(G, Xy, n_nonzero_coefs=4, copy_Gram=False, copy_Xy=False)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_allclose(ours.orthogonal_mp(np.asfortranarray(X), y, n_nonzero_coefs=4),
                               ours.orthogonal_mp(X, y, n_nonzero_coefs=4))  # fmt: skip
    est = ours.OrthogonalMatchingPursuit(n_nonzero_coefs=4).fit(X, y)
    assert est.coef_.shape == (3, 35)


def test_inputs_not_modified():
    X, y = _dictionary(7, 25, 35, 3)
    G, Xy = X.T @ X, X.T @ y
    copies = [a.copy() for a in (X, y, G, Xy)]
    ours.orthogonal_mp_gram(G, Xy, n_nonzero_coefs=4, copy_Gram=False, copy_Xy=False)
    ours.orthogonal_mp(X, y, tol=0.1, copy_X=False)
    ours.OrthogonalMatchingPursuit().fit(X, y)
    for a, b in zip((X, y, G, Xy), copies):
        np.testing.assert_array_equal(a, b)


def test_default_sparsity_deviation_small_dictionary():
    """Spec §2: max(int(0.1 N), 1) in both functions; scikit-learn's Gram function raises."""
    X, y = _dictionary(8, 6, 5, 2)
    with pytest.raises(ValueError, match="number of atoms must be positive"):
        sklm.orthogonal_mp_gram(X.T @ X, X.T @ y)
    got = ours.orthogonal_mp_gram(X.T @ X, X.T @ y)
    assert (np.count_nonzero(got, axis=0) == 1).all()
    np.testing.assert_allclose(got, sklm.orthogonal_mp(X, y))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_nonzero_coefs": 36}, "n_nonzero_coefs"),
        ({"n_nonzero_coefs": 0}, "n_nonzero_coefs"),
        ({"n_nonzero_coefs": 2.5}, "n_nonzero_coefs"),
        ({"tol": -1.0}, "tol"),
        ({"tol": "a"}, "tol"),
        ({"return_path": 1}, "return_path"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, match):
    X, y = _dictionary(9, 25, 35, 2)
    for f, args in ((ours.orthogonal_mp, (X, y)), (ours.orthogonal_mp_gram, (X.T @ X, X.T @ y))):
        with pytest.raises(ValueError, match=match):
            f(*args, **kwargs)


def test_bad_inputs():
    X, y = _dictionary(10, 25, 35, 2)
    with pytest.raises(ValueError, match="norms_squared"):
        ours.orthogonal_mp_gram(X.T @ X, X.T @ y, tol=0.1)
    with pytest.raises(ValueError, match="same number of samples"):
        ours.orthogonal_mp(X, y[:-1])
    with pytest.raises(ValueError, match="Xy must have 35 rows"):
        ours.orthogonal_mp_gram(X.T @ X, y)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ours.orthogonal_mp(bad, y)
    with pytest.raises(TypeError):
        ours.orthogonal_mp_gram("G", X.T @ y)


def test_path_and_n_iter_shapes():
    X, y = _dictionary(11, 25, 35, 3)
    path, n_iter = ours.orthogonal_mp(X, y, n_nonzero_coefs=5, return_path=True,
                                      return_n_iter=True)  # fmt: skip
    ref = sklm.orthogonal_mp(X, y, n_nonzero_coefs=5, return_path=True)
    assert path.shape == ref.shape == (35, 3, 5)
    np.testing.assert_allclose(path, ref, atol=1e-10)
    assert n_iter == [5, 5, 5] and all(type(n) is int for n in n_iter)
    single, n1 = ours.orthogonal_mp(X, y[:, 0], n_nonzero_coefs=5, return_n_iter=True)
    assert single.shape == (35,) and n1 == 5 and type(n1) is int


def test_path_of_targets_that_stop_early_repeats_final_solution():
    """Deviation: scikit-learn pads with zeros or fails when targets stop at different steps."""
    X, _ = _dictionary(12, 25, 35, 1)
    y = np.stack([X[:, 3] * 2.0, X[:, :6] @ np.arange(1.0, 7.0)], 1)  # 1 and 6 atoms needed
    path, n_iter = _quiet(ours.orthogonal_mp, X, y, n_nonzero_coefs=8, return_path=True,
                          return_n_iter=True)  # fmt: skip
    assert n_iter == [1, 6] and path.shape == (35, 2, 6)
    for k in range(6):
        np.testing.assert_array_equal(path[:, 0, k], path[:, 0, -1])


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("precompute", ["auto", True, False])
def test_estimator_agrees_with_sklearn(fit_intercept, precompute):
    X, y = _dictionary(13, 60, 40, 3)
    y = y + 3.0
    for kw in ({"n_nonzero_coefs": 6}, {"tol": 5.0}, {"tol": 60.0}, {}):
        fits, warned = [], []
        for mod in (ours, sklm):
            est = mod.OrthogonalMatchingPursuit(fit_intercept=fit_intercept,
                                                precompute=precompute, **kw)  # fmt: skip
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                fits.append(est.fit(X, y))
            warned.append(bool(rec))
        a, b = fits
        if precompute is not False:  # the Gram path warns when tol is out of reach
            assert warned[0] == warned[1]
            assert warned[0] == ("tol" in kw and kw["tol"] < (10 if fit_intercept else 1e3))
        np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-10)
        np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-10)
        assert list(np.atleast_1d(a.n_iter_)) == list(np.atleast_1d(b.n_iter_))
        assert a.n_nonzero_coefs_ == b.n_nonzero_coefs_
        np.testing.assert_allclose(a.predict(X[:5]), b.predict(X[:5]), atol=1e-10)
        a1 = _quiet(ours.OrthogonalMatchingPursuit(fit_intercept=fit_intercept, **kw).fit,
                    X, y[:, 0])  # fmt: skip
        assert np.shape(a1.intercept_) == () and a1.coef_.shape == (40,)


def test_cv_agrees_with_sklearn():
    X, y = _dictionary(14, 80, 30, 1, sparse=4)
    y = y[:, 0] + 0.05 * np.random.default_rng(0).standard_normal(80)
    a = ours.OrthogonalMatchingPursuitCV(cv=4, max_iter=10).fit(X, y)
    b = sklm.OrthogonalMatchingPursuitCV(cv=4, max_iter=10).fit(X, y)
    assert a.n_nonzero_coefs_ == b.n_nonzero_coefs_ == 4
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-10)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-10)
    assert a.n_iter_ == b.n_iter_


def test_is_a_sklearn_estimator_pipeline_grid_clone():
    X, y = _dictionary(15, 60, 25, 1, sparse=3)
    y = y[:, 0] + 0.01 * np.random.default_rng(1).standard_normal(60)
    est = ours.OrthogonalMatchingPursuit()
    assert isinstance(est, sklm.OrthogonalMatchingPursuit)
    assert clone(est).get_params() == est.get_params()
    pipe = make_pipeline(StandardScaler(), ours.OrthogonalMatchingPursuit(n_nonzero_coefs=3))
    assert pipe.fit(X, y).score(X, y) > 0.99
    grid = GridSearchCV(ours.OrthogonalMatchingPursuit(), {"n_nonzero_coefs": [1, 2, 3, 5]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_["n_nonzero_coefs"] >= 3
    assert isinstance(grid.best_estimator_, ours.OrthogonalMatchingPursuit)


def test_sparse_encode_and_coder_agree_with_sklearn():
    rng = np.random.default_rng(16)
    D = rng.standard_normal((40, 16))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((100, 16))
    for n in (None, 1, 7):
        ref = skd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=n)
        np.testing.assert_allclose(ours.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=n),
                                   ref, atol=1e-10)  # fmt: skip
    got = ours.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=5, gram=D @ D.T, cov=D @ X.T)
    np.testing.assert_allclose(got, skd.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=5),
                               atol=1e-10)  # fmt: skip
    # alpha is documented as OMP's tolerance but never reaches it: same codes.
    a = ours.sparse_encode(X, D, algorithm="omp", alpha=1e-6)
    np.testing.assert_array_equal(a, ours.sparse_encode(X, D, algorithm="omp", alpha=100.0))
    for split in (False, True):
        ca = ours.SparseCoder(D, transform_n_nonzero_coefs=3, split_sign=split).transform(X)
        cb = skd.SparseCoder(D, transform_n_nonzero_coefs=3, split_sign=split).transform(X)
        np.testing.assert_allclose(ca, cb, atol=1e-10)
        assert ca.dtype == cb.dtype
    lars = ours.sparse_encode(X, D, algorithm="lasso_lars", alpha=0.1)  # delegated
    np.testing.assert_array_equal(lars, skd.sparse_encode(X, D, algorithm="lasso_lars", alpha=0.1))


def test_omp_budget_above_n_components_names_the_parameter():
    """Issue #33454: scikit-learn crashes inside OMP; we raise a ValueError naming it."""
    rng = np.random.default_rng(17)
    D, X = rng.standard_normal((6, 10)), rng.standard_normal((4, 10))
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        ours.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=7)
    with pytest.raises(ValueError, match="transform_n_nonzero_coefs"):
        ours.SparseCoder(D, transform_n_nonzero_coefs=7).transform(X)
    with pytest.raises(ValueError, match="Positive constraint"):
        ours.SparseCoder(D, positive_code=True).transform(X)


def test_sparse_coder_estimator_contract():
    rng = np.random.default_rng(18)
    D = rng.standard_normal((6, 8))
    coder = ours.SparseCoder(D, transform_n_nonzero_coefs=2)
    assert isinstance(coder, skd.SparseCoder)
    cloned = clone(coder)
    X = rng.standard_normal((5, 8)).astype(np.float32)
    np.testing.assert_array_equal(cloned.transform(X), coder.transform(X))
    assert coder.fit_transform(X).dtype == np.float32


def test_sparse_encode_fused_path_warns_and_matches_unfused(monkeypatch):
    """Without gram/cov, OMP codes run on the fused compiled path; same codes and
    warnings as the gram/cov path, and as the torch kernel when numba is missing."""
    from mplib.pursuit import _omp_gram_cpu

    rng = np.random.default_rng(19)
    base = rng.standard_normal((5, 10))
    D = np.concatenate([base, base, base])  # duplicates: rank 5
    X = rng.standard_normal((30, 10)).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="ended prematurely") as rec:
        fused = ours.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=7)
    assert len(rec) == 1 and fused.dtype == np.float32
    with pytest.warns(RuntimeWarning, match="ended prematurely"):
        ref = _quiet(skd.sparse_encode, X, D, algorithm="omp", n_nonzero_coefs=7)
        given = ours.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=7, gram=D @ D.T,
                                   cov=D @ X.T)
    # duplicates tie up to rounding: compare reconstructions
    np.testing.assert_allclose(fused @ D, given @ D, atol=1e-4)
    np.testing.assert_allclose(fused @ D, ref @ D, atol=1e-4)
    Xd = X.astype(np.float64)
    on = _quiet(ours.sparse_encode, Xd, base, algorithm="omp", n_nonzero_coefs=3)
    monkeypatch.setattr(_omp_gram_cpu, "AVAILABLE", False)
    off = _quiet(ours.sparse_encode, Xd, base, algorithm="omp", n_nonzero_coefs=3)
    np.testing.assert_allclose(on, off, atol=1e-12)
