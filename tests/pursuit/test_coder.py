"""``PursuitCoder``: the scikit-learn transformer contract and agreement with ``sparse_encode``."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, orthogonal_mp_gram
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_set_params,
    check_transformer_data_not_an_array,
    check_transformer_general,
    check_transformer_preserve_dtypes,
    check_transformers_unfitted,
)

from mplib.pursuit import PursuitCoder, sparse_encode

ALGOS = ["omp", "mp", "gp", "acgp"]


def _problem(seed=0, n_atoms=30, n_features=12, n_samples=40):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_atoms, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return D, rng.standard_normal((n_samples, n_features))


@pytest.mark.parametrize("algorithm", ALGOS)
def test_transform_equals_sparse_encode(algorithm):
    D, X = _problem()
    coder = PursuitCoder(D, algorithm=algorithm, n_nonzero_coefs=4)
    assert coder.fit(X) is coder
    codes = coder.transform(X)
    ref = sparse_encode(X, D, algorithm=algorithm, n_nonzero_coefs=4).codes
    np.testing.assert_array_equal(codes, ref)
    np.testing.assert_allclose(coder.inverse_transform(codes), codes @ D)


def test_omp_codes_match_sklearn():
    D, X = _problem(1)
    codes = PursuitCoder(D, n_nonzero_coefs=5).fit_transform(X)
    ref = orthogonal_mp_gram(D @ D.T, D @ X.T, n_nonzero_coefs=5).T
    np.testing.assert_allclose(codes, ref, atol=1e-10)


def test_tol_and_positive_are_passed_on():
    D, X = _problem(2)
    tol = 0.2 * float((X**2).sum(1).mean())
    codes = PursuitCoder(D, tol=tol).transform(X)
    assert (((X - codes @ D) ** 2).sum(1) <= tol * (1 + 1e-9)).all()
    pos = PursuitCoder(D, n_nonzero_coefs=3, positive=True).transform(X)
    assert (pos >= 0).all() and (pos > 0).any()


def test_float32_preserved_and_torch_in_torch_out(device):
    D, X = _problem(3)
    coder = PursuitCoder(D, n_nonzero_coefs=3)
    assert coder.transform(X.astype(np.float32)).dtype == np.float32
    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    codes = PursuitCoder(torch.as_tensor(D, device=device), n_nonzero_coefs=3).transform(Xt)
    assert isinstance(codes, torch.Tensor) and codes.device.type == device.type
    np.testing.assert_allclose(codes.cpu().numpy(), coder.transform(X), atol=1e-4)


def test_get_set_params_and_clone():
    D, _ = _problem()
    coder = PursuitCoder(D, algorithm="gp", n_nonzero_coefs=2)
    params = coder.get_params()
    assert set(params) == {"dictionary", "algorithm", "n_nonzero_coefs", "tol", "positive"}
    assert coder.set_params(algorithm="acgp") is coder and coder.algorithm == "acgp"
    other = clone(coder)
    assert other is not coder and other.get_params()["algorithm"] == "acgp"
    assert other.dictionary is not coder.dictionary
    np.testing.assert_array_equal(other.dictionary, coder.dictionary)


def test_pipeline_and_grid_search():
    rng = np.random.default_rng(4)
    D, _ = _problem(4, n_atoms=20, n_features=10)
    labels = rng.integers(0, 2, 120)
    X = (labels[:, None] * 2.0 - 1.0) * D[3] * 3 + 0.3 * rng.standard_normal((120, 10))
    pipe = Pipeline([("code", PursuitCoder(D, n_nonzero_coefs=2)), ("clf", LogisticRegression())])
    assert pipe.fit(X, labels).score(X, labels) > 0.9
    grid = GridSearchCV(pipe, {"code__algorithm": ["omp", "mp"], "code__n_nonzero_coefs": [1, 3]},
                        cv=3)  # fmt: skip
    grid.fit(X, labels)
    assert grid.best_score_ > 0.9
    assert pipe.named_steps["code"].get_feature_names_out()[0] == "pursuitcoder0"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"algorithm": "lasso"}, ValueError, "algorithm"),
        ({"n_nonzero_coefs": 0}, ValueError, "n_nonzero_coefs"),
        ({"n_nonzero_coefs": 1.5}, TypeError, "n_nonzero_coefs"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"positive": "yes"}, TypeError, "positive"),
    ],
)
def test_bad_parameters_raise_at_fit_and_transform(kwargs, error, match):
    D, X = _problem()
    coder = PursuitCoder(D, **kwargs)  # scikit-learn style: the constructor only stores
    with pytest.raises(error, match=match):
        coder.fit(X)
    with pytest.raises(error, match=match):
        coder.transform(X)


def test_bad_data_raises():
    D, X = _problem()
    with pytest.raises(ValueError, match="n_features = 12"):
        PursuitCoder(D).fit(X[:, :5])
    with pytest.raises(ValueError, match="dictionary must be 2-D"):
        PursuitCoder(D[0]).fit(X)
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="inf"):
        PursuitCoder(D).transform(bad)
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        PursuitCoder(D, n_nonzero_coefs=31).transform(X)


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize(
    "check",
    [
        check_transformer_data_not_an_array,
        check_transformer_general,
        partial(check_transformer_general, readonly_memmap=True),
        check_transformers_unfitted,
        check_transformer_preserve_dtypes,
        check_get_params_invariance,
        check_set_params,
    ],
)
def test_sklearn_transformer_checks(algorithm, check):
    """scikit-learn's transformer checks, with a dictionary that fits their 3-feature data."""
    rng = np.random.RandomState(777)
    coder = PursuitCoder(rng.rand(40, 3), algorithm=algorithm, n_nonzero_coefs=2)
    check(type(coder).__name__, coder)
