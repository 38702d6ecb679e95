"""Matching pursuit through sparse_encode and the shared kernel mp_loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.pursuit import dense_codes, mp_loop, sparse_encode
from mplib.pursuit import reference as ref

from .pursuit_problems import unit_dictionary


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("normalize", [False, True])
def test_matches_reference(positive, normalize):
    rng = np.random.default_rng(0)
    D = rng.standard_normal((40, 12)) * rng.uniform(0.3, 2.0, (40, 1))
    X = rng.standard_normal((25, 12))
    res = sparse_encode(X, D, algorithm="mp", n_nonzero_coefs=15, positive=positive,
                        normalize=normalize)
    for i, x in enumerate(X):
        r = ref.matching_pursuit(x, D, 15, positive=positive, normalize=normalize)
        np.testing.assert_allclose(res.codes[i], r.codes, rtol=1e-10, atol=1e-12)
        assert res.n_iter[i] == r.n_iter
    np.testing.assert_allclose(res.residual, X - res.codes @ D, atol=1e-12)


def test_unit_atoms_energy_drops_by_a_squared():
    """Spec §6: with unit atoms, ‖r_k‖² = ‖r_{k−1}‖² − a_k² exactly (up to rounding)."""
    D = unit_dictionary(1, 50, 16)
    X = np.random.default_rng(2).standard_normal((20, 16))
    trace = mp_loop(torch.tensor(X), torch.tensor(D), n_steps=1)
    res = sparse_encode(X, D, algorithm="mp", n_nonzero_coefs=12, return_path=True)
    err = ((X[None] - res.path @ D) ** 2).sum(-1)  # (steps, B)
    err = np.concatenate([(X**2).sum(1)[None], err])
    a = np.diff(np.concatenate([np.zeros((1, 20, 50)), res.path]), axis=0)
    a2 = (a**2).sum(-1)  # one nonzero per step
    np.testing.assert_allclose(err[:-1] - err[1:], a2, rtol=1e-9, atol=1e-12)
    assert (np.diff(err, axis=0) <= 1e-12).all()
    np.testing.assert_allclose(trace.values[:, 0].numpy() ** 2, a2[0], rtol=1e-12)


def test_reselection_accumulates():
    """Classical MP picks an atom again; its coefficients add up."""
    D = np.array([[1.0, 0.0], [np.cos(0.3), np.sin(0.3)]])
    X = np.array([[0.2, 1.0]])
    res = sparse_encode(X, D, algorithm="mp", n_nonzero_coefs=2, return_sparse=True)
    assert res.n_iter[0] == 2
    many = sparse_encode(X, D, algorithm="mp", n_nonzero_coefs=2)
    trace = mp_loop(torch.tensor(X), torch.tensor(D), n_steps=30)
    assert len(set(trace.indices[0].tolist())) == 2 and trace.n_iter[0] == 30
    assert (np.abs(many.codes) > 0).sum() <= 2


def test_positive_codes_and_stop():
    D = unit_dictionary(3, 30, 10)
    X = np.random.default_rng(4).standard_normal((40, 10))
    res = sparse_encode(X, D, algorithm="mp", n_nonzero_coefs=20, positive=True)
    assert (res.codes >= 0).all()
    # A signal anti-correlated with every atom gets no atom at all.
    D2 = np.abs(unit_dictionary(5, 10, 6))
    x = -np.ones((1, 6))
    r2 = sparse_encode(x, D2, algorithm="mp", n_nonzero_coefs=3, positive=True)
    assert r2.n_iter[0] == 0 and (r2.codes == 0).all()


def test_tol_and_zero_signal():
    D = unit_dictionary(6, 30, 10)
    X = np.random.default_rng(7).standard_normal((5, 10))
    X[1] = 0
    res = sparse_encode(X, D, algorithm="mp", n_nonzero_coefs=30, tol=0.5)
    r2 = (res.residual**2).sum(1)
    assert (r2 <= 0.5).all() and res.n_iter[1] == 0 and (res.codes[1] == 0).all()


def test_mp_loop_stop_score_is_opt_in():
    """The new stop_score keyword leaves mp_loop's default behaviour unchanged."""
    D = torch.tensor(unit_dictionary(8, 20, 6))
    X = torch.zeros(3, 6, dtype=torch.float64)
    X[0, 0] = 1.0
    plain = mp_loop(X, D, n_steps=4)
    assert plain.n_iter.tolist() == [4, 4, 4]  # zero signals still take (zero) steps
    stop = mp_loop(X, D, n_steps=4, stop_score=torch.tensor([0.0, 0.0, 0.0]))
    assert stop.n_iter.tolist() == [4, 0, 0]
    assert torch.equal(stop.values[0], plain.values[0])


def test_mp_loop_autograd_and_leading_dims():
    """MP-SAE contract: leading batch dims broadcast; gradients flow to X and D."""
    g = torch.Generator().manual_seed(0)
    D = torch.randn(2, 15, 8, generator=g, dtype=torch.float64, requires_grad=True)
    X = torch.randn(5, 8, generator=g, dtype=torch.float64, requires_grad=True)
    tr = mp_loop(X, D, n_steps=3)
    assert tr.indices.shape == (2, 5, 3) and tr.residual.shape == (2, 5, 8)
    codes = dense_codes(tr.indices, tr.values, 15)
    (codes.sum() + tr.residual.pow(2).sum()).backward()
    assert X.grad is not None and D.grad is not None
    assert torch.isfinite(X.grad).all() and torch.isfinite(D.grad).all()
    # gradcheck on a tiny problem (the selection is locally constant)
    Xs = X.detach()[:2].clone().requires_grad_(True)
    Ds = D.detach()[0].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x, d: mp_loop(x, d, n_steps=2).values, (Xs, Ds), eps=1e-6, atol=1e-6
    )


def test_mp_loop_chunking_invariance():
    D = torch.tensor(unit_dictionary(9, 100, 12))
    X = torch.tensor(np.random.default_rng(10).standard_normal((7, 12)))
    a = mp_loop(X, D, n_steps=6)
    b = mp_loop(X, D, n_steps=6, chunk_size=9)
    assert torch.equal(a.indices, b.indices)
    torch.testing.assert_close(a.values, b.values, rtol=1e-13, atol=1e-14)


def _both_regimes(X, D, *, n_steps, tol=None, stop_score=None, min_score=0.0, **rules):
    """Run the Gram and the residual regime of mp_loop on the same problem, with gradients."""
    from mplib.pursuit import _mp

    out = []
    for regime in ("gram", "residual"):
        Xg, Dg = X.clone().requires_grad_(True), D.clone().requires_grad_(True)
        batch = torch.broadcast_shapes(Xg.shape[:-2], Dg.shape[:-2])
        Xe, De = Xg.expand(*batch, *X.shape[-2:]), Dg.expand(*batch, *D.shape[-2:])
        budget = torch.as_tensor(n_steps).expand(*batch, X.shape[-2])
        args = (Xe, De, budget, tol, min_score, stop_score, rules)
        tr = _mp._gram_mp(*args) if regime == "gram" else _mp._residual_mp(*args, None)
        codes = dense_codes(tr.indices, tr.values, D.shape[-2])
        weights = torch.linspace(0.5, 1.5, D.shape[-2], dtype=X.dtype)
        ((tr.residual**2).sum() + (codes * weights).sum() + (tr.values**2).sum()).backward()
        out.append((tr, codes, Xg.grad, Dg.grad))
    return out


@pytest.fixture(params=["compiled", "torch"])
def gram_backend(request, monkeypatch):
    """Run the Gram regime with the compiled CPU kernels (numba) or the torch kernel."""
    from mplib.pursuit import _mp, _mp_jit

    if request.param == "compiled" and not _mp_jit.AVAILABLE:
        pytest.skip("numba not installed")
    monkeypatch.setattr(_mp, "GRAM_BACKEND", "auto" if request.param == "compiled" else "torch")
    return request.param


@pytest.mark.parametrize("selection", ["abs", "signed", "positive"])
@pytest.mark.parametrize("coefficient", ["projection", "correlation"])
@pytest.mark.parametrize("variant", ["plain", "support+tol", "normalize+noreselect", "scores"])
def test_gram_regime_equals_residual_regime(selection, coefficient, variant, gram_backend):
    """Issue #5: the compacted Gram-space kernel (small N) takes the residual kernel's steps.

    Same atoms, step counts and (float64) codes, residuals and gradients with respect to X
    and D, for every rule; a zero atom, per-signal budgets and leading batch dims included.
    """
    g = torch.Generator().manual_seed(1)
    D = torch.randn(2, 12, 8, generator=g, dtype=torch.float64)
    D = D * torch.rand(2, 12, 1, generator=g, dtype=torch.float64).add(0.5)
    if coefficient == "correlation":  # the toy's raw coefficient needs atoms of norm < √2
        D = D / D.norm(dim=-1, keepdim=True) * 0.9
    D[1, 4] = 0.0
    X = torch.randn(25, 8, generator=g, dtype=torch.float64)
    X[3] = 0.0
    kw = dict(selection=selection, coefficient=coefficient, normalize=False,
              allow_reselect=True, support=False,
              n_steps=torch.randint(0, 9, (2, 25), generator=g))
    if variant == "support+tol":
        kw.update(support=True, tol=torch.rand(2, 25, generator=g, dtype=torch.float64))
    elif variant == "normalize+noreselect":
        kw.update(normalize=True, allow_reselect=False)
    elif variant == "scores":
        kw.update(stop_score=0.05, min_score=torch.rand(2, 25, generator=g,
                                                        dtype=torch.float64) * 0.2)
    (ta, ca, gxa, gda), (tb, cb, gxb, gdb) = _both_regimes(X, D, **kw)
    assert torch.equal(ta.indices, tb.indices) and torch.equal(ta.n_iter, tb.n_iter)
    for a, b in ((ca, cb), (ta.residual, tb.residual), (ta.values, tb.values), (gxa, gxb),
                 (gda, gdb)):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-12)


def test_gram_regime_gradcheck(gram_backend):
    """The analytic backward pass of the Gram regime against finite differences."""
    g = torch.Generator().manual_seed(2)
    D = torch.randn(2, 6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    X = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    for coefficient in ("projection", "correlation"):
        def values_and_residual(x, d, coefficient=coefficient):
            return mp_loop(x, d, n_steps=3, selection="positive", coefficient=coefficient,
                           stop_on_unchanged_support=True)[1:3]

        assert torch.autograd.gradcheck(values_and_residual, (X, D), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("selection", ["abs", "positive"])
def test_compiled_gram_kernels_equal_torch_kernel(dtype, selection, monkeypatch):
    """The numba Gram-regime kernels take the torch kernel's steps: same atoms and step counts,
    codes, residuals and gradients to rounding; in float32 too, and across the threaded split
    over models (MP-SAE toy rules: raw correlation, residual threshold, support stop)."""
    from mplib.pursuit import _mp, _mp_jit

    if not _mp_jit.AVAILABLE:
        pytest.skip("numba not installed")
    g = torch.Generator().manual_seed(7)
    D = torch.randn(6, 20, 20, generator=g, dtype=dtype)
    D = D / D.norm(dim=-1, keepdim=True) * 0.95
    X = torch.randn(6, 300, 20, generator=g, dtype=dtype)
    out = []
    for backend, threads in (("torch", 1), ("auto", 1), ("auto", 2)):
        monkeypatch.setattr(_mp, "GRAM_BACKEND", backend)
        monkeypatch.setattr(_mp_jit, "_MIN_THREAD_WORK", 1)
        Xg, Dg = X.clone().requires_grad_(True), D.clone().requires_grad_(True)
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            tr = mp_loop(Xg, Dg, n_steps=20, tol=0.05, selection=selection,
                         coefficient="correlation", stop_on_unchanged_support=True)
            codes = dense_codes(tr.indices, tr.values, 20)
            ((tr.residual**2).sum() + 0.3 * codes.sum() + (tr.values**2).sum()).backward()
        finally:
            torch.set_num_threads(before)
        out.append((tr, codes, Xg.grad, Dg.grad))
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)
    ref = out[0]
    assert int(ref[0].n_iter.max()) > 3  # a real pursuit, not one step
    for got in out[1:]:
        assert torch.equal(got[0].indices, ref[0].indices)
        assert torch.equal(got[0].n_iter, ref[0].n_iter)
        for a, b in zip((got[1], got[0].residual, got[2], got[3]),
                        (ref[1], ref[0].residual, ref[2], ref[3])):
            torch.testing.assert_close(a, b, **tol)
