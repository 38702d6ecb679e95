"""SAE-encoder gradient pursuit (SAE dark-matter paper, inference-time pursuit).

Spec items guarded: the fast path equals the ``reference="sae-dark-matter"`` mode step for
step (fp64); codes >= 0; realised nonzeros <= budget; budget 0 reconstructs to ``b_dec``;
a budget below 0 raises ``ValueError``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mplib.pursuit import sae_gradient_pursuit


def _problem(seed=0, n=60, n_atoms=40, d=12, max_budget=10):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_atoms, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    Z = np.where(rng.random((n, n_atoms)) < 0.1, rng.exponential(1.0, (n, n_atoms)), 0.0)
    b = 0.1 * rng.standard_normal(d)
    X = Z @ W + b + 0.05 * rng.standard_normal((n, d))
    L = rng.integers(0, max_budget + 1, n)
    return X, W, b, L


def _released_one(x, W, L):
    """One token of the released loop, in plain numpy (an independent oracle)."""
    z = np.zeros(W.shape[0])
    for _ in range(L):
        r = x - z @ W
        g = W @ r
        sel = z != 0
        sel[np.argmax(g)] = True
        u = np.where(sel, g, 0.0)
        c = u @ W
        z = np.maximum(z + (c @ r) / (c @ c) * u, 0.0)
    return z


@pytest.mark.parametrize("seed, batch", [(0, 7), (1, 64), (2, 1000)])
def test_fast_equals_reference_fp64(seed, batch):
    X, W, b, L = _problem(seed)
    ref = sae_gradient_pursuit(X, W, L, b_dec=b, reference="sae-dark-matter")
    fast = sae_gradient_pursuit(X, W, L, b_dec=b, batch_size=batch)
    np.testing.assert_array_equal(fast.indices, ref.indices)
    np.testing.assert_allclose(fast.values, ref.values, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.reconstruction, ref.reconstruction, rtol=1e-10,
                               atol=1e-12)


def test_reference_matches_numpy_oracle():
    X, W, b, L = _problem(3, n=20)
    ref = sae_gradient_pursuit(X, W, L, b_dec=b, reference="sae-dark-matter")
    dense = ref.to_dense(W.shape[0])
    for t in range(len(X)):
        np.testing.assert_allclose(dense[t], _released_one(X[t] - b, W, int(L[t])),
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reference", [None, "sae-dark-matter"])
def test_nonnegative_budgets_and_bias(reference):
    X, W, b, L = _problem(4)
    res = sae_gradient_pursuit(X, W, L, b_dec=b, reference=reference)
    assert (res.values >= 0).all()
    assert (res.values[res.indices >= 0] > 0).all()
    assert (res.n_nonzero <= L).all()
    zero = L == 0
    assert zero.any()
    np.testing.assert_allclose(res.reconstruction[zero], np.broadcast_to(b, (zero.sum(), 12)))
    np.testing.assert_allclose(res.reconstruction, res.to_dense(W.shape[0]) @ W + b,
                               rtol=1e-12, atol=1e-12)


def test_brute_force_one_atom():
    """Budget 1 on atoms at most one of which correlates positively: the best NN 1-term fit."""
    rng = np.random.default_rng(5)
    W = np.eye(6)
    X = rng.standard_normal((30, 6))
    res = sae_gradient_pursuit(X, W, 1)
    for t, x in enumerate(X):
        best = min(itertools.product(range(6), [0.0, 1.0]),
                   key=lambda p: np.sum((x - p[1] * max(x[p[0]], 0) * W[p[0]]) ** 2))
        j = best[0]
        want = max(x[j], 0) * W[j]
        if x.max() > 0:
            np.testing.assert_allclose(res.reconstruction[t], want, atol=1e-12)


def test_exact_recovery_orthogonal():
    """Non-negative codes on orthonormal atoms: L iterations find the L positive entries."""
    rng = np.random.default_rng(6)
    W = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    Z = np.zeros((10, 8))
    Z[:, :3] = rng.uniform(1, 2, (10, 3))
    res = sae_gradient_pursuit(Z @ W, W, 3)
    np.testing.assert_allclose(res.to_dense(8), Z, atol=1e-10)


def test_torch_in_torch_out_and_float32():
    X, W, b, L = _problem(7)
    res = sae_gradient_pursuit(torch.tensor(X, dtype=torch.float32), torch.tensor(W), L,
                               b_dec=torch.tensor(b))
    assert isinstance(res.reconstruction, torch.Tensor)
    assert res.reconstruction.dtype == torch.float32
    ref = sae_gradient_pursuit(X, W, L, b_dec=b)
    np.testing.assert_allclose(res.reconstruction.numpy(), ref.reconstruction, atol=1e-4)


def test_zero_signal_stops_instead_of_nan():
    W = np.eye(4)
    fast = sae_gradient_pursuit(np.zeros((2, 4)), W, 3)
    assert np.isfinite(fast.reconstruction).all() and (fast.n_nonzero == 0).all()
    ref = sae_gradient_pursuit(np.zeros((2, 4)), W, 3, reference="sae-dark-matter")
    assert np.isnan(ref.reconstruction).all()  # the released loop divides 0 by 0


def test_read_only_inputs():
    X, W, b, L = _problem(8)
    for a in (X, W, b, L):
        a.setflags(write=False)
    sae_gradient_pursuit(X, W, L, b_dec=b)


@pytest.mark.parametrize("kwargs, match", [
    (dict(budgets=-1), "budgets must be >= 0"),
    (dict(budgets=np.array([1, -2, 3])), "budgets must be >= 0"),
    (dict(budgets=np.ones(2, int)), "budgets must be an int or have shape"),
    (dict(budgets=1.5), "budgets must be integers"),
    (dict(budgets=1, reference="sklearn"), "reference must be one of"),
    (dict(budgets=1, batch_size=0), "batch_size"),
    (dict(budgets=1, W_dec=np.ones((4, 5))), "W_dec must have shape"),
    (dict(budgets=1, b_dec=np.ones(4)), "b_dec must have shape"),
])
def test_bad_input(kwargs, match):
    X = np.ones((3, 6))
    kw = {"W_dec": np.eye(6), **kwargs}
    with pytest.raises(ValueError if "integers" not in match else TypeError, match=match):
        sae_gradient_pursuit(X, kw.pop("W_dec"), kw.pop("budgets"), **kw)
