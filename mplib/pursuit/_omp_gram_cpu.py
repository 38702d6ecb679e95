"""Drive the compiled Gram-space OMP kernels over blocks of signals on CPU threads.

The kernels (:mod:`mplib.pursuit._omp_gram_jit`) release the GIL, so plain Python threads
run blocks side by side: no second thread pool beside torch's, and the thread count follows
``torch.get_num_threads()`` (or ``n_threads``). Blocks are handed out dynamically and shrink
towards the end, so neither signals that stop early nor a core busy with another process
leave a thread idle for long.

:func:`encode` also fuses the initial correlations into each block: ``α⁰ = X Dᵀ`` for a
block is one small matrix product into a per-thread buffer, consumed while still in cache,
instead of a (B × N) array written to fresh memory and read back (on 2 cores that product
and its page faults cost a third of the run at 64×256/8).
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch

from mplib.pursuit import _omp_gram_jit as jit
from mplib.pursuit._common import torch_threads

__all__ = ["AVAILABLE", "Encoded", "applies", "dense_codes", "dense_path", "encode", "gram",
           "omp_gram_cpu", "one_intra_op_thread", "sparse_residual"]

AVAILABLE = jit.AVAILABLE


def applies(t: torch.Tensor) -> bool:
    """Whether the compiled CPU kernels apply to tensors like ``t`` (float32/64 on the CPU)."""
    return AVAILABLE and t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)

#: Rows per block at most: more rows make the α⁰ products more efficient, fewer keep α⁰ in
#: cache (measured best between 256 and 1024).
_MAX_BLOCK_ROWS = 512
#: Multiply-adds a block should hold at least: far above a call's cost (~20 µs).
_MIN_BLOCK_WORK = 2_000_000


def _threads(n_threads: int | None) -> int:
    return max(1, int(n_threads or torch.get_num_threads()))


def _run_blocks(make_task, n_rows: int, n_threads: int, work_per_row: int) -> None:
    """Run ``task(lo, hi)`` over row blocks; ``make_task()`` gives each thread its own task.

    Guided scheduling: a thread takes ``remaining / (2 · threads)`` rows (at most
    ``_MAX_BLOCK_ROWS``, at least enough for ``_MIN_BLOCK_WORK``), so blocks shrink towards
    the end and no thread waits long for the last one; a slow thread (a busy core) just
    takes fewer blocks. Worker threads run torch operations with one intra-op thread each.
    """
    min_rows = max(1, -(-_MIN_BLOCK_WORK // max(1, work_per_row)))
    lock = threading.Lock()
    start = 0

    def grab(threads: int) -> tuple[int, int] | None:
        nonlocal start
        with lock:
            lo = start
            if lo >= n_rows:
                return None
            size = -(-(n_rows - lo) // (2 * threads))
            hi = min(n_rows, lo + max(min_rows, min(size, _MAX_BLOCK_ROWS)))
            start = hi
            return lo, hi

    workers = max(1, min(n_threads, n_rows // (2 * min_rows)))  # threads cost ~0.1 ms
    if workers == 1:
        task = make_task()
        while (block := grab(1)) is not None:
            task(*block)
        return

    def worker() -> None:
        with torch_threads(1):
            task = make_task()
            while (block := grab(workers)) is not None:
                task(*block)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for f in [pool.submit(worker) for _ in range(workers)]:
            f.result()


@contextlib.contextmanager
def one_intra_op_thread():
    """Run the caller's torch operations on one thread; yields the thread count before.

    On a shared machine a two-thread torch operation waits for both cores: a busy core
    stalls it for a scheduler slice (milliseconds, dozens of times per call). The
    parallelism of this module is across blocks on worker threads instead, where a slow
    worker just takes fewer blocks.
    """
    with torch_threads(1) as before:
        yield before


def gram(D: torch.Tensor, *, n_threads: int | None = None) -> torch.Tensor:
    """Return ``G = D Dᵀ`` (N × N) of a CPU tensor, row blocks on the worker threads."""
    n_atoms = D.shape[0]
    G = torch.empty(n_atoms, n_atoms, dtype=D.dtype)

    def make_task():
        def task(lo, hi):
            torch.mm(D[lo:hi], D.T, out=G[lo:hi])
        return task

    _run_blocks(make_task, n_atoms, _threads(n_threads), n_atoms * D.shape[1])
    return G


def _outputs(n_signals: int, slots: int, dt):
    return (np.zeros((n_signals, slots), np.int64), np.zeros((n_signals, slots), dt),
            np.zeros(n_signals, np.int64), np.zeros(n_signals, dt),
            np.zeros(n_signals, np.bool_))


def _tol_norms(n_signals, dt, tol, norms_squared):
    tn = np.zeros((n_signals, 2), dt)  # one array for both: one compiled signature
    if tol is not None:
        tn[:, 0] = tol
    if norms_squared is not None:
        tn[:, 1] = norms_squared
    return tn


def omp_gram_cpu(G, alpha0, budget, tol=None, norms_squared=None, *, n_threads=None):
    """Run Gram-space OMP on the CPU from ``G`` and ``α⁰``; results in slot form.

    Parameters
    ----------
    G : ndarray of shape (N, N), float32 or float64, C-contiguous
        Gram matrix; its dtype is the compute dtype.
    alpha0 : ndarray of shape (B, N), dtype of ``G``, C-contiguous
        Initial correlations.
    budget : ndarray of shape (B,), int64
        Atoms per signal, in ``[0, N]``.
    tol, norms_squared : ndarray of shape (B,), optional
        Squared-residual tolerance (needs ``norms_squared``) and ``‖x‖²`` per signal.
    n_threads : int, optional
        Threads (default ``torch.get_num_threads()``).

    Returns
    -------
    indices : ndarray of shape (B, S), int64
        Atom per step in selection order (``S = max(budget)``); 0 past ``n_iter``.
    values : ndarray of shape (B, S)
        Final coefficient per slot; 0 past ``n_iter``.
    n_iter : ndarray of shape (B,), int64
        Atoms selected per signal.
    energy : ndarray of shape (B,)
        ``‖x‖² − γᵀα⁰_Λ`` (meaningful when ``norms_squared`` is given).
    early : ndarray of shape (B,), bool
        Stopped before budget and ``tol`` for lack of a usable atom.
    """
    n_signals, n_atoms = alpha0.shape
    dt = G.dtype
    slots = int(budget.max()) if n_signals else 0
    idx, val, n_iter, energy, early = out = _outputs(n_signals, slots, dt)
    tn = _tol_norms(n_signals, dt, tol, norms_squared)
    eps = dt.type(np.finfo(dt).eps)

    def make_task():
        def task(lo, hi):
            jit.block(G, alpha0[lo:hi], budget[lo:hi], tn[lo:hi], tol is not None, eps,
                      idx[lo:hi], val[lo:hi], n_iter[lo:hi], energy[lo:hi], early[lo:hi])
        return task

    if n_signals:
        _run_blocks(make_task, n_signals, _threads(n_threads), min(slots, 64) ** 2 * n_atoms // 2)
    return out


class Encoded(NamedTuple):
    """What :func:`encode` returns (numpy arrays)."""

    indices: np.ndarray
    """Atom per step, (B, S) int64, selection order; 0 past ``n_iter``."""
    values: np.ndarray
    """Final coefficient per slot, (B, S), in units of ``D``; 0 past ``n_iter``."""
    n_iter: np.ndarray
    """Atoms selected per signal, (B,) int64."""
    early: np.ndarray
    """Stopped for lack of a usable atom, (B,) bool."""
    residual: np.ndarray
    """``(X − Σ_s values[:, s]·D[indices[:, s]])·row_scale``, (B, d)."""
    r2: np.ndarray
    """Squared norm of the unscaled residual, (B,)."""
    codes: np.ndarray | None
    """Dense codes ``(values·row_scale)·scale`` scattered, (B, N); None unless ``dense``."""


def encode(X, D, G, budget, tol=None, norms_squared=None, atom_scale=None, *, row_scale=None,
           scale=1.0, dense=True, n_threads=None) -> Encoded:
    """OMP of the rows of ``X`` from the Gram matrix, fusing ``α⁰``, residuals and codes.

    Per block of signals, on each thread: ``α⁰ = X Dᵀ`` into a reused buffer, the OMP
    kernel, the residuals from the slots, the dense codes.

    Parameters
    ----------
    X : Tensor of shape (B, d)
        Signals (CPU, float32 or float64, like ``D`` and ``G``).
    D : Tensor of shape (N, d)
        Dictionary, atoms as rows.
    G : Tensor of shape (N, N)
        Gram matrix of the (scaled) atoms: ``diag(s) D Dᵀ diag(s)`` with ``s = atom_scale``.
    budget, tol, norms_squared : ndarray of shape (B,)
        As in :func:`omp_gram_cpu`.
    atom_scale : Tensor of shape (N,), optional
        Atom scaling ``s`` applied in ``G`` (``normalize``): ``α⁰ = (X Dᵀ)·s``, and the
        values are multiplied by ``s`` so that they refer to the atoms of ``D``.
    row_scale : ndarray of shape (B,), optional
        Factor per signal for the residuals and the dense codes (default 1).
    scale : float, default=1.0
        Further factor for the dense codes.
    dense : bool, default=True
        Also return dense codes.
    n_threads : int, optional
        Threads (default ``torch.get_num_threads()``).

    Returns
    -------
    Encoded
    """
    n_signals, n_atoms = X.shape[0], D.shape[0]
    dt = G.dtype
    dt_np = torch.empty(0, dtype=dt).numpy().dtype
    slots = int(budget.max()) if n_signals else 0
    idx, val, n_iter, energy, early = _outputs(n_signals, slots, dt_np)
    residual = np.empty(tuple(X.shape), dt_np)
    r2 = np.empty(n_signals, dt_np)
    codes = np.empty((n_signals, n_atoms), dt_np) if dense else None
    tn = _tol_norms(n_signals, dt_np, tol, norms_squared)
    eps = dt_np.type(np.finfo(dt_np).eps)
    Gn, Xn, Dn = G.contiguous().numpy(), X.contiguous().numpy(), D.contiguous().numpy()
    s_atoms = np.ones(n_atoms, dt_np) if atom_scale is None else atom_scale.numpy()
    s_rows = np.ones(n_signals, dt_np) if row_scale is None else row_scale
    s_codes = dt_np.type(scale)

    def make_task():
        buf = None  # α⁰ of a block, reused by the blocks of this thread

        def task(lo, hi):
            nonlocal buf
            if buf is None or buf.shape[0] < hi - lo:
                buf = torch.empty(hi - lo, n_atoms, dtype=dt)
            a0 = buf[: hi - lo]
            torch.mm(X[lo:hi], D.T, out=a0)
            if atom_scale is not None:
                a0.mul_(atom_scale)
            jit.block(Gn, a0.numpy(), budget[lo:hi], tn[lo:hi], tol is not None, eps,
                      idx[lo:hi], val[lo:hi], n_iter[lo:hi], energy[lo:hi], early[lo:hi])
            jit.residual_block(Xn[lo:hi], Dn, idx[lo:hi], val[lo:hi], s_atoms, s_rows[lo:hi],
                               residual[lo:hi], r2[lo:hi])
            if codes is not None:
                jit.dense_block(idx[lo:hi], val[lo:hi], s_rows[lo:hi], s_codes, codes[lo:hi])

        return task

    if n_signals:
        work = min(slots, 64) ** 2 * n_atoms // 2 + n_atoms * X.shape[1]
        _run_blocks(make_task, n_signals, _threads(n_threads), work)
    return Encoded(idx, val, n_iter, early, residual, r2, codes)


def dense_path(G, alpha0, idx, val, n_iter, *, n_threads=None):
    """Coefficients after each step, (n_steps, B, N), ``n_steps = max(n_iter)``.

    A signal that stopped early repeats its final coefficients ``val`` exactly.
    """
    n_steps = int(n_iter.max()) if len(n_iter) else 0
    path = np.empty((n_steps, alpha0.shape[0], alpha0.shape[1]), G.dtype)

    def make_task():
        def task(lo, hi):
            jit.path_block(G, alpha0[lo:hi], idx[lo:hi], val[lo:hi], n_iter[lo:hi], path,
                           lo)
        return task

    if path.size:
        _run_blocks(make_task, len(n_iter), _threads(n_threads), n_steps * alpha0.shape[1])
    return path


def dense_codes(idx, val, n_atoms, row_scale=None, scale=1.0, *, n_threads=None):
    """Dense codes (B, N) from slots: ``out[b, idx[b, s]] += (val[b, s]·row_scale[b])·scale``.

    Repeated atoms add up (MP); padding slots (value 0) add nothing. The two products are
    done in this order so that power-of-two scales stay exact (no overflow of their product).
    """
    n_rows = idx.shape[0]
    out = np.empty((n_rows, n_atoms), val.dtype)
    rows = np.ones(n_rows, val.dtype) if row_scale is None else row_scale
    s = val.dtype.type(scale)

    def make_task():
        def task(lo, hi):
            jit.dense_block(idx[lo:hi], val[lo:hi], rows[lo:hi], s, out[lo:hi])
        return task

    if out.size:
        _run_blocks(make_task, n_rows, _threads(n_threads), n_atoms)
    return out


def sparse_residual(X, D, idx, val, *, n_threads=None):
    """Residuals ``X − Σ_s val[:, s]·D[idx[:, s]]`` (B, d), from the slots only."""
    out = np.empty_like(X)
    r2 = np.empty(X.shape[0], X.dtype)
    ones_atoms, ones_rows = np.ones(D.shape[0], X.dtype), np.ones(X.shape[0], X.dtype)
    val = val.copy()  # the kernel scales it in place (here by ones)

    def make_task():
        def task(lo, hi):
            jit.residual_block(X[lo:hi], D, idx[lo:hi], val[lo:hi], ones_atoms,
                               ones_rows[lo:hi], out[lo:hi], r2[lo:hi])
        return task

    if out.size:
        _run_blocks(make_task, idx.shape[0], _threads(n_threads), idx.shape[1] * X.shape[1])
    return out
