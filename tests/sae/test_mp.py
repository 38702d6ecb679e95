"""MP-SAE against oracles: mplib.pursuit MP, the toy's loop, its dense gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.autograd.graph import saved_tensors_hooks

from mplib.datasets import hierarchical_toy
from mplib.pursuit import reference as ref
from mplib.pursuit import sparse_encode
from mplib.sae import MPSAE

FIXED = dict(threshold=None, stop_on_unchanged_support=False, coefficient="projection")


def _with_dictionary(model: MPSAE, D: np.ndarray) -> MPSAE:
    with torch.no_grad():
        model.W.copy_(torch.as_tensor(D).reshape(model.W.shape))
    return model


def _toy_oracle(x: np.ndarray, W: np.ndarray, threshold: float) -> np.ndarray:
    """The toy's pursuit (``mpsae/MP-SAE`` ``get_acts``), one signal, written from the paper's § 3.

    ReLU selection, raw correlation as coefficient; after each step the sample stops when its
    support did not change or its residual norm fell below the threshold.
    """
    r, z = x.copy(), np.zeros(W.shape[0])
    while True:
        c = np.maximum(W @ r, 0.0)
        j = int(np.argmax(c))
        before = z != 0
        z[j] += c[j]
        r = r - c[j] * W[j]
        if ((z != 0) == before).all() or np.linalg.norm(r) < threshold:
            return z


@pytest.mark.parametrize("positive", [False, True])
def test_encode_equals_pursuit_mp(positive):
    """Issue #4: the MP-SAE encoder is mplib.pursuit's MP on the same dictionary."""
    rng = np.random.default_rng(0)
    D = rng.standard_normal((30, 12)) * rng.uniform(0.5, 2.0, (30, 1))
    X = rng.standard_normal((40, 12))
    model = _with_dictionary(
        MPSAE(12, 30, selection="positive" if positive else "abs", dtype=torch.float64, **FIXED),
        D,
    )
    for k in (1, 4, 9):
        codes = model.encode(torch.as_tensor(X), k=k).numpy()
        res = sparse_encode(X, D, algorithm="mp", n_nonzero_coefs=k, positive=positive)
        np.testing.assert_allclose(codes, res.codes, rtol=1e-10, atol=1e-12)
        for i in range(0, 40, 7):
            r = ref.matching_pursuit(X[i], D, k, positive=positive)
            np.testing.assert_allclose(codes[i], r.codes, rtol=1e-10, atol=1e-12)


def test_signed_selection_matches_numpy_oracle():
    rng = np.random.default_rng(1)
    D = rng.standard_normal((25, 10))
    X = rng.standard_normal((15, 10))
    model = _with_dictionary(MPSAE(10, 25, selection="signed", dtype=torch.float64, **FIXED), D)
    codes = model.encode(torch.as_tensor(X), k=6).numpy()
    for i, x in enumerate(X):
        r, z = x.copy(), np.zeros(25)
        for _ in range(6):
            c = D @ r
            j = int(np.argmax(c))
            a = c[j] / (D[j] @ D[j])
            z[j] += a
            r = r - a * D[j]
        np.testing.assert_allclose(codes[i], z, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("threshold", [0.05, 0.6])
def test_toy_mode_matches_the_authors_loop(threshold):
    """Default (toy) mode = the authors' threshold + unchanged-support loop, drifted atoms."""
    toy = hierarchical_toy(300, within_level_cosine=0.3, seed=2)
    rng = np.random.default_rng(2)
    W = toy.features + 0.3 * rng.standard_normal((20, 20))  # non-unit, like trained atoms
    model = _with_dictionary(MPSAE(20, 20, threshold=threshold, dtype=torch.float64), W)
    codes = model.encode(torch.as_tensor(toy.X)).numpy()
    for i, x in enumerate(toy.X):
        np.testing.assert_allclose(codes[i], _toy_oracle(x, W, threshold), rtol=1e-9,
                                   atol=1e-12)
    assert (codes >= 0).all()


def _dense_toy_loss(x: torch.Tensor, W: torch.Tensor, threshold: float) -> torch.Tensor:
    """The toy's training step as written by the authors: one-hot codes, dense products."""
    residual, done = x.clone(), torch.zeros(x.shape[0], dtype=torch.bool)
    z = torch.zeros(x.shape[0], W.shape[0], dtype=x.dtype)
    prev = torch.zeros_like(z, dtype=torch.bool)
    while not done.all():
        vals, idx = torch.relu(residual @ W.T).max(dim=1, keepdim=True)
        step = torch.zeros_like(z).scatter(1, idx, vals)
        z = torch.where(done[:, None], z, z + step)
        residual = torch.where(done[:, None], residual, residual - step @ W)
        support = z != 0
        done = done | (support == prev).all(1) | (residual.norm(dim=1) < threshold)
        prev = support
    return ((z @ W - x) ** 2).sum(-1).mean()


def test_gradients_equal_the_dense_toy_step():
    """Spec § 3.3: same gradient as the dense one-hot formulation (the toy's ``step``)."""
    toy = hierarchical_toy(200, within_level_cosine=0.3, seed=3)
    x = torch.as_tensor(toy.X)
    model = MPSAE(20, 20, dtype=torch.float64, seed=3)
    W = model.W.detach()[0].clone().requires_grad_(True)
    _dense_toy_loss(x, W, 0.05).backward()
    model.train()
    model.training_step(x, 0, 1).loss.backward()
    torch.testing.assert_close(model.W.grad[0], W.grad, rtol=1e-9, atol=1e-12)


def test_residual_norm_non_increasing_in_k():
    """App. C: with unit atoms ||r_k||² = ||r_{k-1}||² - a_k², so the error never rises."""
    model = MPSAE(16, 48, selection="abs", dtype=torch.float64, seed=4, **FIXED)
    x = torch.randn(50, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    errs = []
    for k in range(0, 40):
        trace = model.pursuit_trace(x, k=k)
        errs.append((trace.residual**2).sum(-1))
        if k:
            a = trace.values[:, -1]
            torch.testing.assert_close(errs[-1], errs[-2] - a**2, rtol=1e-9, atol=1e-12)
    errs = torch.stack(errs)
    assert (errs[1:] <= errs[:-1] + 1e-12).all()
    assert float(errs[-1].max()) < 1e-2 * float(errs[0].min())  # converging to x (full span)


def test_memory_is_linear_in_the_batch_not_in_the_atoms():
    """Issue #4 / SAELens' fix: nothing of size B × N is kept for the backward pass."""
    b, n, d = 256, 2048, 16
    model = MPSAE(d, n, k=8, threshold=None, stop_on_unchanged_support=False, seed=5)
    x = torch.randn(b, d, generator=torch.Generator().manual_seed(5))
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
    out.loss.backward()
    assert max(sizes) <= n * d, max(sizes)  # the dictionary itself; B·N would be 16× more
    assert model.W.grad.abs().sum() > 0


def test_revive_term_matches_its_definition():
    model = MPSAE(8, 40, k=2, threshold=None, stop_on_unchanged_support=False, revive_coef=0.5,
                  dtype=torch.float64, seed=6)
    x = torch.randn(10, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    out = model(x)
    dead = ~(out.codes != 0).any(0)
    residual = x - out.x_hat
    corr = residual @ model.W[0].T  # (B, N): the O(B·N) oracle
    expected = -0.5 * corr[:, dead].mean()
    torch.testing.assert_close(out.aux_loss, expected)
    assert dead.sum() > 0


def test_atom_dropout_only_in_training_and_seeded():
    kw = dict(k=5, threshold=None, stop_on_unchanged_support=False, atom_dropout=0.5, seed=7)
    x = torch.randn(2, 30, 10, generator=torch.Generator().manual_seed(7))
    a, b = MPSAE(10, 12, n_models=2, **kw), MPSAE(10, 12, n_models=2, **kw)
    a.train(), b.train()
    za, zb = a(x).codes, b(x).codes
    torch.testing.assert_close(za, zb)  # same seed, same masks
    used = (za != 0).any(1)  # (M, N): atoms used in this forward
    assert (used.sum(-1) <= 12).all() and (used.sum(-1) < 12).any()
    a.eval()
    torch.testing.assert_close(a(x).codes, a.encode(x))  # no dropout at inference


def test_pre_bias_is_subtracted_and_added_back():
    model = MPSAE(6, 10, k=3, threshold=None, pre_bias=True, dtype=torch.float64, seed=8)
    with torch.no_grad():
        model.b_pre.copy_(torch.arange(6, dtype=torch.float64))
    x = model.b_pre.detach()[0].expand(4, 6).clone()
    out = model(x)
    assert out.codes.abs().sum() == 0
    torch.testing.assert_close(out.x_hat, x)
    torch.testing.assert_close(model.decode(torch.zeros(4, 10, dtype=torch.float64)), x)


def test_toy_loop_terminates_within_n_latents_plus_one_steps():
    """With the unchanged-support rule each step adds an atom or stops: <= N + 1 steps."""
    model = MPSAE(20, 20, threshold=1e-12, seed=9)
    trace = model.pursuit_trace(torch.randn(500, 20, generator=torch.Generator().manual_seed(9)))
    assert int(trace.n_iter.max()) <= 21
