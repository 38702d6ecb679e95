"""R², FVU and NMSE against scikit-learn, closed forms and a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics
import torch

import mplib.metrics._validation as validation
from mplib.metrics import fvu, nmse, r2_score, reconstruction_metrics


@pytest.fixture
def data(rng):
    X = rng.normal(size=(300, 7)) * rng.uniform(0.5, 3.0, size=7) + rng.normal(size=7)
    X_hat = X + 0.3 * rng.normal(size=X.shape)
    return X, X_hat


def test_r2_perfect_and_mean_prediction(data):
    X, _ = data
    assert r2_score(X, X) == 1.0
    assert r2_score(X, np.broadcast_to(X.mean(0), X.shape)) == pytest.approx(0.0, abs=1e-12)
    # the global variant's "mean prediction" is the scalar mean of all entries
    assert r2_score(X, np.full_like(X, X.mean()), mean="global") == pytest.approx(0.0, abs=1e-12)
    assert fvu(X, X) == 0.0


def test_r2_matches_sklearn_variance_weighted(data):
    X, X_hat = data
    ref = sklearn.metrics.r2_score(X, X_hat, multioutput="variance_weighted")
    assert r2_score(X, X_hat) == pytest.approx(ref, rel=1e-12)
    assert fvu(X, X_hat) == pytest.approx(1 - ref, rel=1e-12)


def test_r2_global_variant_closed_form(data):
    X, X_hat = data
    ref = 1 - ((X - X_hat) ** 2).sum() / ((X - X.mean()) ** 2).sum()
    assert r2_score(X, X_hat, mean="global") == pytest.approx(ref, rel=1e-12)
    # per-dimension centring explains less of the variance than the global one here
    assert r2_score(X, X_hat, mean="global") > r2_score(X, X_hat)


def test_nmse_both_reductions(data):
    X, X_hat = data
    err = ((X - X_hat) ** 2).sum(1)
    sig = (X**2).sum(1)
    assert nmse(X, X_hat) == pytest.approx(np.mean(err / sig), rel=1e-12)
    assert nmse(X, X_hat, reduction="ratio_of_sums") == pytest.approx(err.sum() / sig.sum())
    assert nmse(X, X) == 0.0
    assert nmse(X, np.zeros_like(X)) == pytest.approx(1.0)


def test_nmse_zero_row_raises_for_mean_ratio_only(data):
    X, X_hat = data
    X = X.copy()
    X[3] = 0
    with pytest.raises(ValueError, match="ratio_of_sums"):
        nmse(X, X_hat)
    assert np.isfinite(nmse(X, X_hat, reduction="ratio_of_sums"))
    with pytest.raises(ValueError, match="all zero"):
        nmse(np.zeros((3, 2)), np.ones((3, 2)), reduction="ratio_of_sums")


def test_zero_variance_raises():
    X = np.ones((5, 3))
    with pytest.raises(ValueError, match="zero variance"):
        r2_score(X, X)


def test_bad_options_raise(data):
    X, X_hat = data
    with pytest.raises(ValueError, match="mean"):
        r2_score(X, X_hat, mean="median")
    with pytest.raises(ValueError, match="reduction"):
        nmse(X, X_hat, reduction="sum")
    with pytest.raises(ValueError, match="X and X_hat"):
        r2_score(X, X_hat[:, :3])


def test_runs_dimension_broadcasts(rng, data):
    X, _ = data
    X_hat = X + rng.normal(size=(4,) + X.shape) * np.array([0.1, 0.2, 0.5, 1.0])[:, None, None]
    for fn in (r2_score, fvu, nmse):
        batched = fn(X, X_hat)
        assert batched.shape == (4,)
        np.testing.assert_allclose(batched, [fn(X, x) for x in X_hat], rtol=1e-12)
    assert np.all(np.diff(r2_score(X, X_hat)) < 0)  # more noise, lower R²
    # per-run signals too (each run its own batch)
    np.testing.assert_allclose(r2_score(X_hat, X_hat), 1.0)


def test_chunked_sums_equal_one_shot(monkeypatch, data):
    X, X_hat = data
    expected = reconstruction_metrics(X, X_hat)
    monkeypatch.setattr(validation, "CHUNK_ENTRIES", 11)  # 1 row per chunk
    chunked = reconstruction_metrics(X, X_hat)
    for name in ("r2", "r2_global", "fvu", "nmse", "nmse_ratio_of_sums", "sq_error"):
        assert getattr(chunked, name) == pytest.approx(getattr(expected, name), rel=1e-12)


def test_reconstruction_metrics_fields(data):
    X, X_hat = data
    m = reconstruction_metrics(X, X_hat)
    assert m.r2 == pytest.approx(r2_score(X, X_hat))
    assert m.fvu == pytest.approx(1 - m.r2)
    assert m.sq_error == pytest.approx(((X - X_hat) ** 2).sum(1).mean())


def test_torch_inputs_any_device_and_dtype(device, data):
    X, X_hat = data
    Xt = torch.tensor(X, dtype=torch.float32, device=device, requires_grad=True)
    Ht = torch.tensor(X_hat, dtype=torch.float32, device=device)
    got = r2_score(Xt, Ht)
    assert isinstance(got, float)
    assert got == pytest.approx(r2_score(X.astype(np.float32), X_hat.astype(np.float32)))
    # a numpy reconstruction next to a torch signal
    assert r2_score(Xt, X_hat) == pytest.approx(r2_score(X, X_hat), rel=1e-6)


def test_read_only_inputs_are_not_modified(data):
    X, X_hat = data
    X.setflags(write=False)
    X_hat.setflags(write=False)
    before = X.copy()
    r2_score(X, X_hat)
    nmse(X, X_hat)
    np.testing.assert_array_equal(X, before)


def test_large_offset_keeps_precision(rng):
    X = 1e6 + rng.normal(size=(500, 4))
    X_hat = X + 0.5 * rng.normal(size=X.shape)
    ref = sklearn.metrics.r2_score(X, X_hat, multioutput="variance_weighted")
    assert r2_score(X, X_hat) == pytest.approx(ref, rel=1e-9)


def test_zero_variance_is_detected_exactly():
    X = np.full((7, 3), 0.1)  # a mean of 0.1s is not exactly 0.1 in floating point
    with pytest.raises(ValueError, match="zero variance"):
        r2_score(X, X + 1)
    X[:, 0] = np.arange(7)  # one varying dimension: defined, constant ones add no variance
    assert r2_score(X, X) == 1.0
    Y = np.tile([0.0, 1.0], (4, 1))  # rows equal, entries not: only the global variant exists
    assert r2_score(Y, np.full_like(Y, 0.5), mean="global") == pytest.approx(0.0)


def test_bundle_with_blank_rows(data):
    X, X_hat = data
    X = X.copy()
    X[0] = 0
    m = reconstruction_metrics(X, X_hat)
    assert np.isnan(m.nmse) and np.isfinite(m.nmse_ratio_of_sums) and np.isfinite(m.r2)
