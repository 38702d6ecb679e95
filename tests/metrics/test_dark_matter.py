"""Dark-matter metrics against scikit-learn, numpy's lstsq, closed forms and planted truths."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics
import torch

from mplib.metrics import (
    decompose_error,
    fit_error_map,
    fit_power_law,
    fvu,
    normalized_mse,
    per_token_scaling,
    r2_per_dim,
    r2_pooled,
)


@pytest.fixture
def xy(rng):
    X = rng.normal(size=(2000, 5)) @ rng.normal(size=(5, 5)) + rng.normal(size=5)
    Y = X @ rng.normal(size=(5, 3)) + rng.normal(size=(2000, 3)) * [0.1, 1.0, 3.0]
    return X, Y


def test_r2_per_dim_equals_sklearn_uniform_average(xy, rng):
    X, Y = xy
    Y_hat = Y + rng.normal(size=Y.shape) * [0.5, 0.1, 2.0]
    ref = sklearn.metrics.r2_score(Y, Y_hat, multioutput="uniform_average")
    assert r2_per_dim(Y, Y_hat) == pytest.approx(ref, rel=1e-12)
    assert r2_per_dim(torch.from_numpy(Y), torch.from_numpy(Y_hat)) == pytest.approx(ref)
    # scalar target: the usual R²
    assert r2_per_dim(Y[:, 0], Y_hat[:, 0]) == pytest.approx(
        sklearn.metrics.r2_score(Y[:, 0], Y_hat[:, 0]), rel=1e-12)
    # it is not the variance-weighted one here (the dimensions have unequal variance)
    assert abs(r2_per_dim(Y, Y_hat) - (1 - fvu(Y, Y_hat))) > 1e-3


def test_one_minus_fvu_is_variance_weighted_and_pooled_closed_form(xy, rng):
    X, Y = xy
    Y_hat = Y + rng.normal(size=Y.shape)
    assert 1 - fvu(Y, Y_hat) == pytest.approx(
        sklearn.metrics.r2_score(Y, Y_hat, multioutput="variance_weighted"), rel=1e-12)
    pooled = 1 - ((Y - Y_hat) ** 2).sum() / ((Y - Y.mean()) ** 2).sum()
    assert r2_pooled(Y, Y_hat) == pytest.approx(pooled, rel=1e-12)
    nm = np.mean(((Y - Y_hat) ** 2).sum(1) / (Y ** 2).sum(1))
    assert normalized_mse(Y, Y_hat) == pytest.approx(nm, rel=1e-12)


def test_constant_dimension_follows_sklearn(rng):
    Y = np.stack([rng.normal(size=50), np.ones(50)], 1)
    ref = sklearn.metrics.r2_score(Y, Y + [0.1, 0.0], multioutput="uniform_average")
    assert r2_per_dim(Y, Y + [0.1, 0.0]) == pytest.approx(ref)


@pytest.mark.parametrize("intercept", [False, True])
def test_ols_matches_numpy_lstsq(xy, intercept):
    X, Y = xy
    fit = fit_error_map(X, Y, n_fit="all", intercept=intercept)
    A = np.hstack([X, np.ones((len(X), 1))]) if intercept else X
    ref = np.linalg.lstsq(A, Y, rcond=None)[0]
    np.testing.assert_allclose(fit.coef, ref[:5], rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(fit.intercept, ref[5] if intercept else 0.0, atol=1e-9)
    assert np.isnan(fit.r2) and len(fit.eval_index) == 0


def test_singular_predictors_fall_back_to_minimum_norm(rng):
    X = rng.normal(size=(500, 3))
    X = np.hstack([X, X[:, :1]])  # duplicated column: a singular Gram matrix
    Y = X[:, 0] * 2.0
    fit = fit_error_map(X, Y, n_fit="all")
    ref = np.linalg.lstsq(X, Y, rcond=None)[0]
    np.testing.assert_allclose(fit.coef, ref, atol=1e-8)


def test_split_disjoint_reproducible_and_paper_sized(rng):
    X = rng.normal(size=(400, 2))
    Y = X @ [1.0, -1.0]
    a = fit_error_map(X, Y, n_fit=150, n_eval=200, seed=3)
    b = fit_error_map(X, Y, n_fit=150, n_eval=200, seed=3)
    c = fit_error_map(X, Y, n_fit=150, n_eval=200, seed=4)
    assert not set(a.fit_index) & set(a.eval_index)
    assert (len(a.fit_index), len(a.eval_index)) == (150, 200)
    np.testing.assert_array_equal(a.fit_index, b.fit_index)
    assert not np.array_equal(a.fit_index, c.fit_index)
    rest = fit_error_map(X, Y, n_fit=0.25, n_eval=None)
    assert (len(rest.fit_index), len(rest.eval_index)) == (100, 300)


def test_paper_split_sizes_at_300k_tokens():
    """Spec § 1.2: 150 k fit tokens, the next 150 k scored."""
    X = np.random.default_rng(0).normal(size=(310_000, 1)).astype(np.float32)
    fit = fit_error_map(X, X[:, 0] * 2.0, seed=0)
    assert (len(fit.fit_index), len(fit.eval_index)) == (150_000, 150_000)
    assert not np.intersect1d(fit.fit_index, fit.eval_index).size


def test_decomposition_identity_float64(rng):
    X = rng.normal(size=(3000, 6))
    X_hat = np.tanh(X) * 0.8  # a nonlinear "SAE"
    fit = fit_error_map(X, X - X_hat, n_fit=0.5, n_eval=None)
    parts = decompose_error(X, X_hat, fit)
    total = X_hat + parts.linear + parts.nonlinear
    assert np.abs(total - X).max() <= 1e-10 * np.abs(X).max()
    np.testing.assert_array_equal(parts.error, X - X_hat)


def test_oracles_linear_and_independent_errors(rng):
    X = rng.normal(size=(4000, 4))
    # an error that is an exact linear function of x: nonlinear part 0, R² 1
    M = rng.normal(size=(4, 4))
    X_hat = X - X @ M
    fit = fit_error_map(X, X - X_hat, n_fit=0.5, n_eval=None)
    assert fit.r2 == pytest.approx(1.0, abs=1e-10)
    assert np.abs(decompose_error(X, X_hat, fit).nonlinear).max() < 1e-10
    # an oracle reconstruction: zero error everywhere
    assert np.abs(decompose_error(X, X).error).max() == 0.0
    # an error independent of x: held-out R² near 0
    noise = rng.normal(size=X.shape)
    fit = fit_error_map(X, noise, n_fit=0.5, n_eval=None)
    assert abs(fit.r2) < 0.02


def test_bad_inputs_name_the_problem(rng):
    X = rng.normal(size=(10, 5))
    with pytest.raises(ValueError, match="fewer fit tokens"):
        fit_error_map(X, X, n_fit=4, n_eval=None)
    with pytest.raises(ValueError, match="Y must have shape"):
        fit_error_map(X, X[:9])
    with pytest.raises(ValueError, match="same shape"):
        r2_per_dim(X, X[:, :4])
    with pytest.raises(ValueError, match="same shape"):
        decompose_error(X, X[:, :4])
    with pytest.raises(ValueError, match="n_fit"):
        fit_error_map(X, X, n_fit=1.5)
    with pytest.raises(ValueError, match="at least 3 points"):
        fit_power_law([1, 2], [0.5, 0.4])


def test_few_tokens_warns_once(rng):
    X = rng.normal(size=(60, 5))
    with pytest.warns(RuntimeWarning, match="fewer than 20 tokens per predictor") as record:
        fit_error_map(X, X[:, 0], n_fit="all")
    assert len(record) == 1


def test_device_independent_float32_and_torch(xy):
    X, Y = xy
    a = fit_error_map(X, Y, n_fit=0.5, n_eval=None)
    b = fit_error_map(torch.from_numpy(X), torch.from_numpy(Y), n_fit=0.5, n_eval=None)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-12)
    assert a.r2 == pytest.approx(b.r2, rel=1e-12)


def test_power_law_recovers_planted_constants():
    W = np.array([128, 256, 512, 1024, 2048, 4096])
    for c, a, m in [(0.2, 3.0, -0.5), (0.05, 0.8, -0.25), (0.4, 10.0, -1.1)]:
        law = fit_power_law(W, c + a * W.astype(float) ** m)
        assert (law.c, law.a, law.m) == pytest.approx((c, a, m), rel=1e-5)
        np.testing.assert_allclose(law.predict(W), c + a * W.astype(float) ** m, rtol=1e-7)


def test_per_token_scaling_same_hard_tokens_and_nonlinear_gain(rng):
    T = 4000
    hard = rng.gamma(2.0, size=T)
    extra = rng.normal(size=T)
    nl = np.stack([extra + 0.05 * rng.normal(size=T) for _ in range(2)])
    norms = np.stack([hard + 0.3 * rng.normal(size=T), hard + 0.5 * extra])
    res = per_token_scaling(norms, nl, seed=0)
    assert res.r2.shape == (2, 2) and res.r2[0, 0] == pytest.approx(1.0)
    # width 0's nonlinear norm carries `extra`, which width 1's norm depends on
    assert res.gain_percent[0, 1] > 20
    assert res.r2_with_nonlinear[0, 1] >= res.r2[0, 1]
