"""Compiled CPU kernel of Gram-space OMP (numba) against the torch kernel and scikit-learn.

Also the fused path of :func:`sparse_encode` (``α⁰``, residuals and codes per block) against
the unfused torch path, one compiled signature per dtype, and the silent fallback to the
torch kernel when numba is missing (OMP >= 2x SPAMS on CPU).
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import orthogonal_mp_gram

from mplib.pursuit import _omp_gram_cpu, _omp_gram_jit, sparse_encode
from mplib.pursuit._omp_gram import omp_gram

needs_numba = pytest.mark.skipif(not _omp_gram_cpu.AVAILABLE, reason="numba not installed")


def _problem(seed, d, n_atoms, n_signals):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_atoms, d))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return D, rng.standard_normal((n_signals, d))


def _both(D, X, budget, dtype=torch.float64, **kw):
    G = torch.as_tensor(D @ D.T, dtype=dtype)
    A0 = torch.as_tensor(X @ D.T, dtype=dtype)
    budget = torch.as_tensor(budget, dtype=torch.long)
    return (omp_gram(G, A0, n_nonzero_coefs=budget, backend="compiled", **kw),
            omp_gram(G, A0, n_nonzero_coefs=budget, backend="torch", **kw))


def _supports(coef):
    return coef.numpy() != 0


@needs_numba
@pytest.mark.parametrize(
    "d, n_atoms, S, n_signals, seed",
    [(16, 40, 4, 200, 0), (64, 256, 8, 300, 1), (128, 512, 24, 100, 2), (32, 64, 32, 80, 3)],
)
def test_matches_torch_kernel_and_sklearn(d, n_atoms, S, n_signals, seed):
    """Per-signal budgets; S = d (last case) makes every signal end on a dependent atom."""
    D, X = _problem(seed, d, n_atoms, n_signals)
    budget = np.random.default_rng(seed).integers(0, S + 1, n_signals)
    fast, ref = _both(D, X, budget)
    np.testing.assert_array_equal(fast.n_iter.numpy(), ref.n_iter.numpy())
    np.testing.assert_array_equal(_supports(fast.coef), _supports(ref.coef))
    np.testing.assert_allclose(fast.coef.numpy(), ref.coef.numpy(), rtol=1e-9, atol=1e-10)
    assert fast.early_stop == ref.early_stop
    full, _ = _both(D, X, np.full(n_signals, S))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sk = orthogonal_mp_gram(D @ D.T, D @ X.T, n_nonzero_coefs=S).T
    same = (_supports(full.coef) == (sk != 0)).all(1)
    assert same.mean() >= 0.999
    np.testing.assert_allclose(full.coef.numpy()[same], sk[same], rtol=1e-9, atol=1e-9)


@needs_numba
def test_slots_are_the_supports_in_selection_order():
    D, X = _problem(4, 24, 60, 50)
    fast, ref = _both(D, X, np.arange(50) % 9)
    idx, val, n_iter = fast.indices.numpy(), fast.values.numpy(), fast.n_iter.numpy()
    assert idx.shape == (50, int(n_iter.max()))
    for b in range(50):
        k = n_iter[b]
        assert len(set(idx[b, :k])) == k  # never selected twice
        assert (idx[b, k:] == 0).all() and (val[b, k:] == 0).all()
        np.testing.assert_array_equal(fast.coef[b, idx[b, :k]].numpy(), val[b, :k])
    # selection order: the first slot is the atom best correlated with the signal
    np.testing.assert_array_equal(idx[n_iter > 0, 0],
                                  np.abs(X @ D.T).argmax(1)[n_iter > 0])


@needs_numba
def test_tol_budgets_energy_and_early_stop_match_torch():
    D, X = _problem(5, 32, 80, 120)
    rng = np.random.default_rng(5)
    norms = (X**2).sum(1)
    tol = torch.as_tensor(rng.uniform(0.05, 0.6, 120) * norms)
    budget = rng.integers(1, 81, 120)
    fast, ref = _both(D, X, budget, tol=tol, norms_squared=torch.as_tensor(norms))
    np.testing.assert_array_equal(fast.n_iter.numpy(), ref.n_iter.numpy())
    np.testing.assert_allclose(fast.coef.numpy(), ref.coef.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(fast.residual_energy.numpy(), ref.residual_energy.numpy(),
                               rtol=1e-9, atol=1e-9)
    resid = ((X - fast.coef.numpy() @ D) ** 2).sum(1)
    np.testing.assert_allclose(fast.residual_energy.numpy(), resid, rtol=1e-8, atol=1e-10)
    assert fast.early_stop == ref.early_stop


@needs_numba
def test_exhausted_signal_and_duplicate_atom_stop_early():
    D, _ = _problem(6, 16, 30, 1)
    D[1] = D[0]
    X = np.stack([2 * D[3] - D[8], D[0] + D[1] + 0.5 * D[7]])  # 2 atoms each, budget 6
    fast, ref = _both(D, X, [6, 6])
    assert fast.early_stop and ref.early_stop
    np.testing.assert_array_equal(fast.n_iter.numpy(), [2, 2])
    np.testing.assert_allclose(fast.coef.numpy(), ref.coef.numpy(), atol=1e-12)
    np.testing.assert_allclose(fast.coef[0, [3, 8]].numpy(), [2.0, -1.0], atol=1e-12)


@needs_numba
def test_float32_runs_in_float32_and_matches_torch():
    D, X = _problem(7, 32, 64, 200)
    fast, ref = _both(D, X, np.full(200, 6), dtype=torch.float32, return_path=True)
    assert fast.coef.dtype == torch.float32 and fast.path.dtype == torch.float32
    same = (_supports(fast.coef) == _supports(ref.coef)).all(1)
    assert same.mean() >= 0.95  # fp32: argmax near-ties may flip
    np.testing.assert_allclose(fast.coef.numpy()[same], ref.coef.numpy()[same], atol=1e-4)


@needs_numba
def test_independent_of_threads_and_blocks():
    """Spec §6 batch invariance, bitwise: blocks and threads only split the batch."""
    D, X = _problem(8, 24, 70, 301)
    G, A0 = torch.as_tensor(D @ D.T), torch.as_tensor(X @ D.T)
    budget = torch.as_tensor(np.arange(301) % 11)
    one = omp_gram(G, A0, n_nonzero_coefs=budget, n_workers=1)
    for workers in (2, 3):
        out = omp_gram(G, A0, n_nonzero_coefs=budget, n_workers=workers)
        torch.testing.assert_close(out.coef, one.coef, rtol=0, atol=0)
    for b in (0, 150, 300):
        single = omp_gram(G, A0[b : b + 1], n_nonzero_coefs=budget[b : b + 1])
        torch.testing.assert_close(single.coef[0], one.coef[b], rtol=0, atol=0)


@needs_numba
def test_encode_fuses_alpha0_residuals_and_codes():
    """The fused block pipeline equals kernel + residual + scatter done separately."""
    D, X = _problem(9, 20, 50, 90)
    D *= np.random.default_rng(9).uniform(0.5, 2.0, (50, 1))  # non-unit atoms
    Xt, Dt = torch.as_tensor(X), torch.as_tensor(D)
    inv = 1 / torch.linalg.vector_norm(Dt, dim=1)
    G = (Dt @ Dt.T) * inv[:, None] * inv[None, :]
    budget = np.arange(90) % 7
    rows = np.full(90, 4.0)
    enc = _omp_gram_cpu.encode(Xt, Dt, G, budget, atom_scale=inv, row_scale=rows, scale=0.5)
    idx, val, n_iter, _, _ = _omp_gram_cpu.omp_gram_cpu(
        G.numpy(), ((Xt @ Dt.T) * inv).numpy(), budget)
    np.testing.assert_array_equal(enc.indices, idx)
    np.testing.assert_array_equal(enc.n_iter, n_iter)
    np.testing.assert_allclose(enc.values, val * inv.numpy()[idx], rtol=1e-12, atol=1e-14)
    codes = np.zeros((90, 50))
    np.add.at(codes, (np.arange(90)[:, None], enc.indices), enc.values)
    np.testing.assert_allclose(enc.codes, codes * 2.0, rtol=1e-12, atol=1e-14)
    resid = X - codes @ D
    np.testing.assert_allclose(enc.residual, 4.0 * resid, atol=1e-12)
    np.testing.assert_allclose(enc.r2, (resid**2).sum(1), rtol=1e-10, atol=1e-12)


def _fallback(monkeypatch, fn):
    """Run ``fn`` as if numba were missing (the torch kernel everywhere)."""
    with monkeypatch.context() as m:
        m.setattr(_omp_gram_cpu, "AVAILABLE", False)
        return fn()


@needs_numba
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("use_tol", [False, True])
def test_sparse_encode_fast_path_matches_torch_path(monkeypatch, normalize, use_tol):
    D, X = _problem(10, 24, 64, 80)
    D *= np.random.default_rng(10).uniform(0.5, 2.0, (64, 1))
    X[3] = 0.0  # a zero signal gets no atom
    X *= np.logspace(-150, 150, 80)[:, None]  # scale-free: power-of-two rescaling per row
    kw = {"n_nonzero_coefs": np.arange(80) % 9 + 1, "normalize": normalize}
    if use_tol:
        kw["tol"] = 0.2 * (X**2).sum(1)
    fast = sparse_encode(X, D, regime="gram", **kw)
    ref = _fallback(monkeypatch, lambda: sparse_encode(X, D, regime="gram", **kw))
    np.testing.assert_array_equal(fast.n_iter, ref.n_iter)
    np.testing.assert_array_equal(fast.codes != 0, ref.codes != 0)
    scale = np.abs(X).max(1, keepdims=True) + 1e-300
    np.testing.assert_allclose(fast.codes / scale, ref.codes / scale, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast.residual / scale, ref.residual / scale, atol=1e-12)
    assert fast.n_iter[3] == 0 and (fast.codes[3] == 0).all()


@needs_numba
def test_sparse_encode_fast_path_dtypes_sparse_output_and_warning(monkeypatch):
    D, X = _problem(11, 16, 40, 30)
    sp = sparse_encode(torch.as_tensor(X), torch.as_tensor(D), n_nonzero_coefs=5,
                       regime="gram", return_sparse=True)
    dense = sparse_encode(X, D, n_nonzero_coefs=5, regime="gram")
    assert sp.codes is None and sp.indices.shape == (30, 5) and sp.indices.dtype == torch.int64
    rebuilt = np.zeros((30, 40))
    np.add.at(rebuilt, (np.arange(30)[:, None], sp.indices.numpy()), sp.values.numpy())
    np.testing.assert_allclose(rebuilt, dense.codes, atol=1e-14)
    half = sparse_encode(X.astype(np.float16), D.astype(np.float16), n_nonzero_coefs=5,
                         regime="gram")
    assert half.codes.dtype == np.float16 and half.residual.dtype == np.float16
    X32 = X.astype(np.float32)
    X32.flags.writeable = False  # read-only input works
    out32 = sparse_encode(X32, D.astype(np.float32), n_nonzero_coefs=5, regime="gram")
    assert out32.codes.dtype == np.float32
    rank5 = np.concatenate([D[:5, :10]] * 3)  # duplicates: rank 5 in 10 dimensions
    with pytest.warns(RuntimeWarning, match="ended prematurely") as rec:
        res = sparse_encode(X[:, :10], rank5, n_nonzero_coefs=7, regime="gram")
    assert len(rec) == 1 and (res.n_iter == 5).all() and np.isfinite(res.codes).all()
    with pytest.warns(RuntimeWarning, match="ended prematurely"):
        ref = _fallback(monkeypatch, lambda: sparse_encode(X[:, :10], rank5, n_nonzero_coefs=7,
                                                           regime="gram"))
    # duplicates tie up to rounding, which differs between the routes: compare reconstructions
    np.testing.assert_allclose(res.codes @ rank5, ref.codes @ rank5, atol=1e-10)


@needs_numba
def test_one_compiled_signature_per_dtype():
    """Slices, budgets, tol and the fused path reuse the same compiled code (no recompiles)."""
    D, X = _problem(12, 16, 40, 64)
    for dt in (np.float32, np.float64):
        sparse_encode(X.astype(dt), D.astype(dt), n_nonzero_coefs=4, regime="gram")
        sparse_encode(X.astype(dt)[::2], D.astype(dt), tol=1.0, regime="gram", return_path=True)
        omp_gram(torch.as_tensor(D @ D.T, dtype=torch.float64 if dt is np.float64 else
                                 torch.float32), torch.as_tensor(X @ D.T)[:, :].T.T,
                 n_nonzero_coefs=torch.full((64,), 3), return_path=True)
    for name in ("block", "path_block", "dense_block", "residual_block"):
        assert len(getattr(_omp_gram_jit, name).signatures) <= 2, name


def test_backend_option_is_checked():
    G, A0 = torch.eye(3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="backend must be one of"):
        omp_gram(G, A0, n_nonzero_coefs=torch.ones(2, dtype=torch.long), backend="fast")
    with pytest.raises(ValueError, match="backend='compiled' needs"):
        omp_gram(G.to(torch.float16), A0, n_nonzero_coefs=torch.ones(2, dtype=torch.long),
                 backend="compiled")


def test_falls_back_to_torch_without_numba():
    """numba is optional: without it, everything runs on the torch kernel, silently."""
    code = (
        "import sys, warnings; sys.modules['numba'] = None; warnings.simplefilter('error')\n"
        "import numpy as np, torch\n"
        "from mplib.pursuit import _omp_gram_cpu, sparse_encode\n"
        "from mplib.pursuit._omp_gram import omp_gram\n"
        "assert not _omp_gram_cpu.AVAILABLE\n"
        "r = sparse_encode(np.array([[0.0, 3.0, 0.0, -1.0]]), np.eye(4), n_nonzero_coefs=1)\n"
        "assert r.codes.tolist() == [[0.0, 3.0, 0.0, 0.0]], r.codes\n"
        "out = omp_gram(torch.eye(4, dtype=torch.float64), torch.tensor([[0.0, 3.0, 0, -1]],\n"
        "               dtype=torch.float64), n_nonzero_coefs=torch.tensor([2]))\n"
        "assert out.indices is None and out.coef.tolist() == [[0.0, 3.0, 0.0, -1.0]]\n"
        "try:\n"
        "    omp_gram(torch.eye(2), torch.ones(1, 2), n_nonzero_coefs=torch.tensor([1]),\n"
        "             backend='compiled')\n"
        "except ValueError as e:\n"
        "    assert 'numba missing' in str(e)\n"
        "else:\n"
        "    raise AssertionError('no error')\n"
        "from mplib.pursuit import _mp_jit, mp_loop\n"
        "assert not _mp_jit.AVAILABLE and not _mp_jit.supports(torch.ones(1))\n"
        "t = mp_loop(torch.tensor([[0.0, 3.0, 0.0, -1.0]]), torch.eye(4), n_steps=2)\n"
        "assert t.indices.tolist() == [[1, 3]] and t.values.tolist() == [[3.0, -1.0]]\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"


@needs_numba
def test_gram_on_worker_threads_and_threading_left_alone():
    """Row blocks of G on worker threads equal D @ D.T; the caller's torch threads survive."""
    import threading

    D = torch.as_tensor(np.random.default_rng(13).standard_normal((300, 20)))
    before = torch.get_num_threads()
    for workers in (1, 2, 3):
        torch.testing.assert_close(_omp_gram_cpu.gram(D, n_threads=workers), D @ D.T,
                                   rtol=1e-13, atol=1e-12)
    X = np.random.default_rng(14).standard_normal((500, 20))
    sparse_encode(X, D.numpy(), n_nonzero_coefs=3, regime="gram")
    assert torch.get_num_threads() == before
    seen = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert seen == [before]
