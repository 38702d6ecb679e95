"""approximate_rows: OMP against scikit-learn and mergekit, invariants, baselines, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.transplant import METHODS, approximate_rows


def _problem(rng, n_anchors=240, d_donor=32, d_base=20, n_targets=150, unit=False):
    A = rng.standard_normal((n_anchors, d_donor))
    if unit:
        A /= np.linalg.norm(A, axis=1, keepdims=True)
    else:
        A *= rng.uniform(0.2, 3.0, (n_anchors, 1))  # high-norm anchors favoured by raw selection
    T = rng.standard_normal((n_targets, d_donor))
    B = rng.standard_normal((n_anchors, d_base))
    return T, A, B


def _dense(res, n_anchors):
    C = np.zeros((res.indices.shape[0], n_anchors))
    np.add.at(C, (np.arange(C.shape[0])[:, None], res.indices), res.coefs)
    return C


@pytest.mark.parametrize("unit", [True, False])
@pytest.mark.parametrize("k", [1, 8, 20])
def test_omp_supports_equal_scikit_learn(rng, unit, k):
    """Supports identical to scikit-learn's orthogonal_mp (raw correlation rule), fp64."""
    from sklearn.linear_model import orthogonal_mp

    T, A, B = _problem(rng, unit=unit)
    res = approximate_rows(T, A, B, k=k)
    ref = orthogonal_mp(A.T, T.T, n_nonzero_coefs=k).T  # (n_targets, N)
    ours = _dense(res, A.shape[0])
    same = np.mean([set(np.flatnonzero(ours[i])) == set(np.flatnonzero(ref[i]))
                    for i in range(len(T))])
    assert same >= 0.999
    np.testing.assert_allclose(ours, ref, atol=1e-10)
    np.testing.assert_allclose(res.rows, ours @ B, atol=1e-10)
    assert (res.n_iter == k).all()


def test_omp_matches_mergekit_batch_omp(rng):
    """Same selection order and coefficients as mergekit's batch_omp, fp64."""
    mk = pytest.importorskip("mergekit.tokensurgeon")
    T, A, B = _problem(rng)
    res = approximate_rows(T, A, B, k=16)
    idx, coef = mk.batch_omp(torch.from_numpy(T), torch.from_numpy(A), 16)
    np.testing.assert_array_equal(res.indices, idx.numpy())
    np.testing.assert_allclose(res.coefs, coef.numpy(), atol=1e-10)
    rows = torch.bmm(coef.unsqueeze(1), torch.from_numpy(B)[idx]).squeeze(1)  # mergekit's transfer
    np.testing.assert_allclose(res.rows, rows.numpy(), atol=1e-10)


def test_exact_recovery_of_sparse_combinations(rng):
    A = np.linalg.qr(rng.standard_normal((64, 64)))[0][:40]  # 40 orthonormal (incoherent) rows
    B = rng.standard_normal((40, 10))
    C = np.zeros((30, 40))
    for i in range(30):
        C[i, rng.choice(40, 5, replace=False)] = rng.uniform(1, 2, 5) * rng.choice([-1, 1], 5)
    res = approximate_rows(C @ A, A, B, k=5)
    np.testing.assert_allclose(_dense(res, 40), C, atol=1e-12)
    np.testing.assert_allclose(res.rows, C @ B, atol=1e-12)


def test_coefficient_transfer_exact_under_a_linear_relation(rng):
    """Base anchors = donor anchors · M ⇒ transferred row = (donor-space approximation) · M."""
    T, A, _ = _problem(rng)
    M = rng.standard_normal((A.shape[1], 24))
    res = approximate_rows(T, A, A @ M, k=12)
    donor_space = _dense(res, A.shape[0]) @ A
    np.testing.assert_allclose(res.rows, donor_space @ M, atol=1e-10)


def test_k1_is_one_scaled_anchor(rng):
    T, A, B = _problem(rng)
    res = approximate_rows(T, A, B, k=1)
    j = np.abs(T @ A.T).argmax(1)
    np.testing.assert_array_equal(res.indices[:, 0], j)
    scale = (T * A[j]).sum(1) / (A[j] ** 2).sum(1)
    np.testing.assert_allclose(res.rows, scale[:, None] * B[j], atol=1e-12)


def test_k_equal_n_is_least_squares_on_all_anchors(rng):
    T, A, B = _problem(rng, n_anchors=12, d_donor=32)
    res = approximate_rows(T, A, B, k=12)
    C = np.linalg.lstsq(A.T, T.T, rcond=None)[0].T
    np.testing.assert_allclose(res.rows, C @ B, atol=1e-10)


def test_batch_invariance(rng):
    T, A, B = _problem(rng)
    ref = approximate_rows(T, A, B, k=10)
    for bs in (1, 7, 1000):
        res = approximate_rows(T, A, B, k=10, batch_size=bs)
        np.testing.assert_array_equal(res.indices, ref.indices)
        np.testing.assert_allclose(res.rows, ref.rows, atol=1e-12)
    for method in ("knn_softmax", "common_interpolation", "focus_like"):
        a = approximate_rows(T, A, B, method=method, k=10, seed=0, batch_size=9)
        b = approximate_rows(T, A, B, method=method, k=10, seed=0, batch_size=500)
        np.testing.assert_allclose(a.rows, b.rows, atol=1e-12)


def test_large_problem_uses_one_gram_call_and_agrees_with_batches(rng):
    """Enough targets to amortise G: the Gram route gives the rows of the residual route."""
    T, A, B = _problem(rng, n_anchors=300, n_targets=400)
    res = approximate_rows(T, A, B, k=12, batch_size=512)
    ref = approximate_rows(T, A, B, k=12, batch_size=10)  # 10 · 12 < 300: residual regime
    np.testing.assert_array_equal(res.indices, ref.indices)
    np.testing.assert_allclose(res.rows, ref.rows, atol=1e-10)


def test_centred_omp_puts_the_base_mean_in_with_weight_one(rng):
    T, A, B = _problem(rng)
    res = approximate_rows(T, A, B, k=8, center=True)
    mu_b = B.mean(0)
    np.testing.assert_allclose(res.rows, _dense(res, A.shape[0]) @ (B - mu_b) + mu_b, atol=1e-10)
    plain = approximate_rows(T - A.mean(0), A - A.mean(0), B - mu_b, k=8)
    np.testing.assert_allclose(res.rows, plain.rows + mu_b, atol=1e-10)


def test_non_strict_k_at_donor_width_stops_cleanly(rng):
    T, A, B = _problem(rng, d_donor=10)
    with pytest.raises(ValueError, match="k must be below the donor width"):
        approximate_rows(T, A, B, k=10)
    res = approximate_rows(T, A, B, k=12, strict=False)
    assert (res.n_iter <= 10).all() and np.isfinite(res.rows).all()
    np.testing.assert_allclose(_dense(res, A.shape[0]) @ A, T, atol=1e-9)  # exact at full rank


def test_numpy_and_torch_types_and_dtypes(rng):
    T, A, B = _problem(rng)
    res = approximate_rows(T.astype(np.float32), A.astype(np.float32), B.astype(np.float32), k=4)
    assert isinstance(res.rows, np.ndarray) and res.rows.dtype == np.float32
    res = approximate_rows(torch.from_numpy(T), torch.from_numpy(A), torch.from_numpy(B), k=4)
    assert isinstance(res.rows, torch.Tensor) and res.rows.dtype == torch.float64
    ro = [x.copy() for x in (T, A, B)]
    for x in ro:
        x.setflags(write=False)
    res2 = approximate_rows(*ro, k=4)  # read-only input works and is not changed
    np.testing.assert_allclose(res2.rows, res.rows.numpy())
    empty = approximate_rows(T[:0], A, B, k=4)
    assert empty.rows.shape == (0, B.shape[1]) and empty.indices.shape == (0, 4)


def test_knn_and_interpolation_weights(rng):
    T, A, B = _problem(rng)
    res = approximate_rows(T, A, B, method="knn_softmax", knn_k=5)
    np.testing.assert_allclose(res.coefs.sum(1), 1.0)
    An = A / np.linalg.norm(A, axis=1, keepdims=True)
    top = np.argsort(-(T @ An.T), axis=1)[:, :5]
    assert (np.sort(res.indices, 1) == np.sort(top, 1)).all()
    res = approximate_rows(T, A, B, method="common_interpolation", k=6)
    np.testing.assert_allclose(res.coefs.sum(1), 1.0)
    np.testing.assert_allclose(res.rows, (res.coefs[:, :, None] * B[res.indices]).sum(1))
    res = approximate_rows(T, A, B, method="common_interpolation", k=6,
                           weight_scheme="barycentric")
    np.testing.assert_allclose(res.coefs.sum(1), 1.0, atol=1e-8)


@pytest.mark.parametrize("scheme", ["distance_proportional", "barycentric", "least_squares"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_common_interpolation_matches_mergekit(rng, scheme, metric):
    mk = pytest.importorskip("mergekit.tokensurgeon.common_interpolation")
    T, A, B = (x.astype(np.float32) for x in _problem(rng))
    res = approximate_rows(T, A, B, method="common_interpolation", k=8, knn_metric=metric,
                           weight_scheme=scheme)
    idx, w = mk.common_interp_approximate(torch.from_numpy(T), torch.from_numpy(A), k=8,
                                          metric=mk.DistanceMetric(metric),
                                          weight_scheme=mk.WeightingScheme(scheme))
    np.testing.assert_array_equal(res.indices, idx.numpy())
    np.testing.assert_allclose(res.coefs, w.numpy(), rtol=1e-3, atol=1e-4)


def test_focus_like_weights_are_sparse_and_convex(rng):
    T, A, B = _problem(rng)
    res = approximate_rows(T, A, B, method="focus_like", seed=0)
    np.testing.assert_allclose(res.coefs.sum(1), 1.0)
    assert (res.coefs >= 0).all() and res.coefs.shape[1] < A.shape[0] // 2
    S_t = np.zeros((len(T), 5))
    S_t[1:] = rng.standard_normal((len(T) - 1, 5))
    res = approximate_rows(T, A, B, method="focus_like", seed=0,
                           similarity=(S_t, rng.standard_normal((len(A), 5))))
    assert (res.coefs[0] == 0).all()  # no vector: N(mean, std) fallback row
    assert np.isfinite(res.rows).all()


def test_global_maps_exact_under_their_relations(rng):
    T, A, _ = _problem(rng, d_base=32)
    M, b = rng.standard_normal((32, 32)), rng.standard_normal(32)
    res = approximate_rows(T, A, A @ M + b, method="linear")
    np.testing.assert_allclose(res.rows, T @ M + b, atol=1e-9)
    Q = np.linalg.qr(rng.standard_normal((32, 32)))[0]
    res = approximate_rows(T, A, 2.5 * A @ Q + b, method="procrustes")
    np.testing.assert_allclose(res.rows, 2.5 * T @ Q + b, atol=1e-9)


def test_landmark_pca_recovers_a_rotation_the_released_map_does_not(rng):
    """Isotropic anchors (all PCA variances equal): the PCA bases of the two sides differ by a
    generic rotation, which the corrected Procrustes map undoes and its transpose does not."""
    d = 16
    Z = rng.standard_normal((200, d))
    Z -= Z.mean(0)
    A = np.linalg.qr(Z)[0] * 10 + rng.standard_normal(d)
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    mu_b = rng.standard_normal(d)
    B = (A - A.mean(0)) @ Q + mu_b
    T = rng.standard_normal((20, d))
    truth = (T - A.mean(0)) @ Q + mu_b
    good = approximate_rows(T, A, B, method="landmark_pca").rows
    bad = approximate_rows(T, A, B, method="landmark_pca_as_released").rows
    np.testing.assert_allclose(good, truth, atol=1e-8)
    assert np.abs(bad - truth).max() > 1e-2


def test_simple_baselines(rng):
    T, A, B = _problem(rng)
    full = rng.standard_normal((500, B.shape[1]))
    assert (approximate_rows(T, A, B, method="zero").rows == 0).all()
    np.testing.assert_allclose(approximate_rows(T, A, B, method="mean", base_matrix=full).rows,
                               np.broadcast_to(full.mean(0), (len(T), B.shape[1])))
    np.testing.assert_allclose(approximate_rows(T, A, B, method="mean_anchors").rows[3],
                               B.mean(0))
    a = approximate_rows(T, A, B, method="john_hewitt", base_matrix=full, seed=3).rows
    b = approximate_rows(T, A, B, method="john_hewitt", base_matrix=full, seed=3).rows
    np.testing.assert_array_equal(a, b)
    assert set(METHODS) >= {"omp", "knn_softmax", "landmark_pca", "focus_like"}


@pytest.mark.parametrize("kwargs, match", [
    ({"k": 0}, "k must be >= 1"),
    ({"k": -3}, "k must be >= 1"),
    ({"k": 32}, "k must be below the donor width"),
    ({"k": 500, "strict": False}, "k must be at most the number of anchors"),
    ({"method": "magic"}, "method must be one of"),
    ({"method": "mean"}, "needs base_matrix"),
    ({"method": "randn"}, "pass seed"),
    ({"knn_metric": "l1"}, "knn_metric"),
    ({"weight_scheme": "x"}, "weight_scheme"),
    ({"temperature": 0.0}, "temperature"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_options_raise_value_error(rng, kwargs, match):
    T, A, B = _problem(rng)
    with pytest.raises(ValueError, match=match):
        approximate_rows(T, A, B, **kwargs)


def test_bad_arrays(rng):
    T, A, B = _problem(rng)
    with pytest.raises(ValueError, match="same number of rows"):
        approximate_rows(T, A, B[:-1])
    with pytest.raises(ValueError, match="same width"):
        approximate_rows(T[:, :-1], A, B)
    with pytest.raises(ValueError, match="2-D"):
        approximate_rows(T[0], A, B)
    T2 = T.copy()
    T2[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        approximate_rows(T2, A, B, k=4)
    with pytest.raises(TypeError, match="k must be an int"):
        approximate_rows(T, A, B, k=2.0)
    with pytest.raises(TypeError, match="numeric"):
        approximate_rows([["a"]], A, B)
