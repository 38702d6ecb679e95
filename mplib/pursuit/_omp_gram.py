"""Batched orthogonal matching pursuit in Gram space (torch kernel, no autograd).

The loop never touches d-dimensional vectors: it needs the Gram matrix ``G = D Dᵀ`` and the
initial correlations ``α⁰ = X Dᵀ`` only. It follows the inverse-Cholesky ("v0") scheme of
Batch-OMP (Rubinstein, Zibulevsky & Elad 2008): per signal it keeps ``U`` (k × N), the inner
products of every atom with the orthonormalized selected atoms q₁ … q_k. Adding atom j::

    w   = U[:, j]                        # <q_i, d_j>: the new row of the Cholesky factor L
    ρ²  = G_jj − ‖w‖²                    # stop the signal if ρ² <= eps·G_jj (dependent atom)
    U_k = (G_j − wᵀU) / ρ                # one batched matrix-vector product, O(N·k)
    α  ←  α − (α_j / ρ) U_k              # correlations of the new residual

Only ``L`` (the rows ``w`` and ``ρ``) is kept per step; the coefficients are solved once at the
end, exactly as scikit-learn does (``L Lᵀ γ = α⁰_Λ``), which also gives the whole path.

Semantics follow scikit-learn's ``orthogonal_mp_gram``: selection by the raw ``|α|`` (ties to
the lowest index); a selected atom is never selected again; ``tol`` is tested after each step
on ``|‖x‖² − γᵀα⁰_Λ|``; a signal stops early (``early_stop``) when its best correlation is
negligible (``α_j² <= eps·max(α⁰²)``, the scale-free form of scikit-learn's ``α_j² < eps``) or
the chosen atom depends linearly on the selected ones.

Speed (CPU): the O(N·k) product dominates and is memory-bound, so signals run in chunks whose
``U`` stays in cache (~12 MB; measured best at 64×256/8, 256×1024/32 and 512×2048/64), and
chunks run in parallel worker threads (one intra-op thread each) rather than splitting every
small operation across threads, which collapses when the cores are shared. Signals that finish
early are compacted out of their chunk. Also measured, and no faster on 2 CPU cores: Batch-OMP
proper (``α = α⁰ − G_{:,Λ} γ`` each step, as a sparse–dense product on the shared ``G``). The
remaining cost is per-step dispatch and passes over the (chunk × N) correlations, so on the
CPU :func:`omp_gram` runs the compiled per-signal loop of :mod:`mplib.pursuit._omp_gram_cpu`
instead (same semantics; 3–5× faster) whenever numba is installed; this kernel serves CUDA
and the fallback.

References: Rubinstein, Zibulevsky & Elad, "Efficient implementation of the K-SVD algorithm
using batch orthogonal matching pursuit", Technion CS report, 2008; Zhu et al., Electronics
9(9):1507, 2020; Lubonja, Præsius & Tran, arXiv:2407.06434.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from mplib.pursuit import _omp_gram_cpu
from mplib.pursuit._common import FIRST_CAPACITY, torch_threads

__all__ = ["BACKENDS", "GramOMPOut", "omp_gram"]

#: ``"auto"``: the compiled kernel for CPU tensors when numba is installed, else torch.
BACKENDS = ("auto", "compiled", "torch")

#: Bytes of ``U`` per chunk: on CPU small enough to stay in the last-level cache (with one
#: chunk per worker), on GPU large enough to fill the device.
_CPU_CHUNK_BYTES = 12 * 2**20
_GPU_CHUNK_BYTES = 2**30


class GramOMPOut(NamedTuple):
    """What :func:`omp_gram` returns."""

    coef: Tensor | None
    """Final coefficients, (B, N), dtype and device of ``G``; ``None`` with ``dense=False``
    when the slots below are given."""
    n_iter: Tensor
    """Atoms selected per signal, (B,) int64."""
    path: Tensor | None
    """Coefficients after each step, (n_steps, B, N) with ``n_steps = max(n_iter)``; a signal
    that stopped early repeats its final solution. ``None`` unless ``return_path``."""
    residual_energy: Tensor | None
    """``‖x‖² − γᵀ α⁰_Λ`` per signal, (B,); ``None`` unless ``norms_squared`` is given."""
    early_stop: bool
    """Some signal stopped before its budget or ``tol`` for lack of a usable atom (negligible
    correlation, or an atom dependent on the selected ones); the caller warns."""
    indices: Tensor | None = None
    """Compiled backend only: selected atom per step, (B, max(n_iter)) int64, in selection
    order; slots past ``n_iter`` hold atom 0 (torch backend: ``None``)."""
    values: Tensor | None = None
    """Compiled backend only: final coefficient per slot, (B, max(n_iter)); 0 past
    ``n_iter``."""


def omp_gram(
    G: Tensor,
    alpha0: Tensor,
    *,
    n_nonzero_coefs: Tensor,
    tol: Tensor | None = None,
    norms_squared: Tensor | None = None,
    return_path: bool = False,
    chunk_size: int | None = None,
    n_workers: int | None = None,
    backend: str = "auto",
    dense: bool = True,
) -> GramOMPOut:
    """Run orthogonal matching pursuit for a batch of signals from ``G`` and ``α⁰`` only.

    Inputs are trusted (the public callers validate them): floating tensors on one device.

    Parameters
    ----------
    G : Tensor of shape (N, N)
        Gram matrix ``D Dᵀ`` of the dictionary (atoms as rows; any norms, zero atoms allowed).
    alpha0 : Tensor of shape (B, N)
        Initial correlations ``X Dᵀ``; cast to ``G``'s dtype.
    n_nonzero_coefs : Tensor of shape (B,), int64
        Atom budget per signal (clipped to ``[0, N]``). It caps the atoms also when ``tol`` is
        given: pass ``N`` for scikit-learn's "``tol`` overrides ``n_nonzero_coefs``".
    tol : Tensor of shape (B,), optional
        Stop a signal once its squared residual norm is ``<= tol`` (tested after each step,
        as scikit-learn does). Needs ``norms_squared``.
    norms_squared : Tensor of shape (B,), optional
        ``‖x‖²`` per signal; enables ``residual_energy``.
    return_path : bool, default=False
        Also return the coefficients after every step.
    chunk_size : int, optional
        Torch backend: signals per chunk (default: ``U`` of ~12 MB on CPU, ~1 GB on GPU).
    n_workers : int, optional
        CPU threads (default: ``torch.get_num_threads()``; always 1 on GPU). Torch backend:
        each runs whole chunks with one intra-op thread. Results depend on neither this nor
        ``chunk_size``.
    backend : {"auto", "compiled", "torch"}, default="auto"
        ``"compiled"``: the numba kernel (CPU tensors, float32/float64); ``"torch"``: the
        batched torch kernel (any device); ``"auto"``: compiled where it applies.
    dense : bool, default=True
        Return ``coef``. With ``dense=False`` the compiled backend returns only the slots
        ``indices``/``values`` (``coef=None``); the torch backend ignores it.

    Returns
    -------
    GramOMPOut
    """
    if tol is not None and norms_squared is None:
        raise ValueError("tol needs norms_squared (the squared norm of every signal)")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    compiled = _omp_gram_cpu.applies(G)
    if backend == "compiled" and not compiled:
        raise ValueError(
            "backend='compiled' needs numba and a float32/float64 CPU tensor, got "
            f"numba {'installed' if _omp_gram_cpu.AVAILABLE else 'missing'}, G on "
            f"{G.device} of dtype {G.dtype}"
        )
    if compiled and backend != "torch":
        return _compiled(G, alpha0, n_nonzero_coefs, tol, norms_squared, return_path,
                         n_workers, dense)
    n_signals, n_atoms = alpha0.shape
    G = G.contiguous()  # rows of G are gathered every step
    dev, dt = G.device, G.dtype
    budget = n_nonzero_coefs.to(device=dev, dtype=torch.long).clamp(0, n_atoms)
    max_steps = int(budget.max()) if n_signals else 0
    cpu = dev.type == "cpu"
    workers = max(1, n_workers or torch.get_num_threads()) if cpu else 1
    cap = min(max_steps, FIRST_CAPACITY) if tol is not None else max_steps
    per_signal = max(1, cap) * max(1, n_atoms) * G.element_size()
    c = chunk_size or max(1, (_CPU_CHUNK_BYTES if cpu else _GPU_CHUNK_BYTES) // per_signal)
    c = max(1, min(c, -(-n_signals // workers) if n_signals else 1))

    out = _Sink(n_signals, n_atoms, dt, dev, norms_squared is not None, return_path)
    with torch.no_grad():
        gdiag = G.diagonal().clone()
        norms = None if norms_squared is None else norms_squared.to(device=dev, dtype=dt)
        tol_t = None if tol is None else tol.to(device=dev, dtype=dt)

        def run(lo: int) -> None:
            hi = min(lo + c, n_signals)
            _Chunk(G, gdiag, alpha0[lo:hi], budget[lo:hi], lo, cap).run(
                None if tol_t is None else tol_t[lo:hi],
                None if norms is None else norms[lo:hi],
                out,
            )

        starts = range(0, n_signals, c)
        if cpu and starts:
            _run_threads(run, starts, min(workers, len(starts)))
        else:
            for lo in starts:
                run(lo)
    return out.result()


def _compiled(G, alpha0, budget, tol, norms_squared, return_path, n_workers, dense):
    """Run the compiled CPU kernel on tensors; outputs are tensors sharing its arrays."""
    n_atoms = G.shape[0]
    dt = G.dtype
    Gn = G.detach().contiguous().numpy()
    A0 = alpha0.detach().to(dt).contiguous().numpy()
    b = budget.detach().to(torch.long).clamp(0, n_atoms).contiguous().numpy()
    tol_n = None if tol is None else tol.detach().to(dt).numpy()
    norms = None if norms_squared is None else norms_squared.detach().to(dt).numpy()
    idx, val, n_iter, energy, early = _omp_gram_cpu.omp_gram_cpu(
        Gn, A0, b, tol_n, norms, n_threads=n_workers
    )
    m = int(n_iter.max()) if len(n_iter) else 0
    if m < idx.shape[1]:  # no empty trailing slots
        idx, val = np.ascontiguousarray(idx[:, :m]), np.ascontiguousarray(val[:, :m])
    coef = path = None
    if dense:
        coef = torch.from_numpy(
            _omp_gram_cpu.dense_codes(idx, val, n_atoms, n_threads=n_workers)
        )
    if return_path:
        path = torch.from_numpy(
            _omp_gram_cpu.dense_path(Gn, A0, idx, val, n_iter, n_threads=n_workers)
        )
    return GramOMPOut(
        coef,
        torch.from_numpy(n_iter),
        path,
        None if norms is None else torch.from_numpy(energy),
        bool(early.any()),
        torch.from_numpy(idx),
        torch.from_numpy(val),
    )


def _run_threads(run, starts, workers: int) -> None:
    """Run chunks on worker threads with one intra-op thread each.

    The chunks' operations are small (cache-sized), so splitting each of them across threads
    costs more in synchronization than it gains, and collapses when the cores are shared.
    """
    lock = threading.Lock()
    todo = iter(starts)

    def worker() -> None:
        with torch_threads(1):
            while True:
                with lock:
                    lo = next(todo, None)
                if lo is None:
                    return
                run(lo)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for f in [pool.submit(worker) for _ in range(workers)]:
            f.result()


class _Sink:
    """Output buffers; chunks write disjoint rows (safe across worker threads)."""

    def __init__(self, n_signals, n_atoms, dt, dev, want_energy, want_path):
        self.coef = torch.zeros(n_signals, n_atoms, dtype=dt, device=dev)
        self.n_iter = torch.zeros(n_signals, dtype=torch.long, device=dev)
        self.energy = torch.zeros(n_signals, dtype=dt, device=dev) if want_energy else None
        self.pieces: list[tuple[Tensor, Tensor]] | None = [] if want_path else None
        self.early = False

    def result(self) -> GramOMPOut:
        path = None
        if self.pieces is not None:
            n_signals, n_atoms = self.coef.shape
            n_steps = int(self.n_iter.max()) if n_signals else 0
            path = self.coef.unsqueeze(0).repeat(n_steps, 1, 1)
            for rows, piece in self.pieces:
                m = min(piece.shape[0], n_steps)
                path[:m, rows] = piece[:m]
        return GramOMPOut(self.coef, self.n_iter, path, self.energy, self.early)


class _Chunk:
    """State of one chunk of signals; rows are compacted out as they finish."""

    def __init__(self, G, gdiag, alpha0, budget, offset, cap):
        c, n_atoms = alpha0.shape
        self.G, self.gdiag = G, gdiag
        dev, dt = G.device, G.dtype
        self.eps = torch.finfo(dt).eps
        self.alpha0 = alpha0.to(dt).contiguous()
        self.alpha = self.alpha0.clone()
        self.rows = torch.arange(offset, offset + c, device=dev)
        self.stop_at = budget.clone()  # first step a signal does not take
        self.max_stop = int(budget.max())
        # |α_j| below this is numerical noise: the signal is exhausted.
        self.noise = self.alpha0.abs().amax(1) * self.eps**0.5 if n_atoms else alpha0.new_zeros(c)
        rows = max(1, min(cap, self.max_stop))
        self.U = torch.empty(rows, c, n_atoms, dtype=dt, device=dev)
        self.inv = torch.empty(rows, c, 1, dtype=dt, device=dev)  # 1/ρ per step
        self.support: list[Tensor] = []  # j per step, (c,)
        self.wrows: list[Tensor] = []  # w per step, (k, c, 1)
        self.rho2: list[Tensor] = []  # ρ² per step, (c,)
        self.energy: Tensor | None = None
        self.early = False
        # Steps after which some signal's budget is spent (rows to compact out).
        self.budget_ends = set(budget.unique().tolist())

    def run(self, tol, norms, out: _Sink) -> None:
        if tol is not None:
            self.energy = norms.clone()
        self.tol, self.norms = tol, norms
        k = 0
        while k < self.max_stop:
            if k == self.U.shape[0]:
                self._compact(k, out)
                if k >= self.max_stop:
                    break
                self._grow()
            changed = self._step(k)
            k += 1
            if changed:
                self.max_stop = int(self.stop_at.max()) if len(self.rows) else 0
                live = int((self.stop_at > k).sum())
                if 0 < live <= len(self.rows) // 2 and k < self.max_stop:
                    self._compact(k, out)
        self._finish(torch.ones_like(self.stop_at, dtype=torch.bool), k, out)

    def _step(self, k: int) -> bool:
        """One OMP step for every row; returns whether some row stopped."""
        alpha, U, G, inv = self.alpha, self.U, self.G, self.inv
        c = alpha.shape[0]
        best, j = alpha.abs().max(1)  # first maximal index: ties go to the lowest atom
        aj = alpha.gather(1, j[:, None])
        gjj = self.gdiag.index_select(0, j)
        Uk = U[k]
        torch.index_select(G, 0, j, out=Uk)
        # U holds ρ_i·U_i (unscaled rows): the 1/ρ_i factors go into the small coefficients,
        # which saves a pass over the (chunk × N) row every step.
        if k:
            w = U[:k].gather(2, j.view(1, c, 1).expand(k, c, 1)) * inv[:k]  # (k, c, 1)
            rho2 = gjj - torch.linalg.vecdot(w, w, dim=0).view(c)
            coef = (w * inv[:k]).permute(1, 2, 0)  # (c, 1, k)
            Uk.unsqueeze(1).baddbmm_(coef, U[:k].permute(1, 0, 2), alpha=-1)
        else:
            w = U[:0].gather(2, j.view(1, c, 1).expand(0, c, 1))
            rho2 = gjj
        stuck = (best <= self.noise) | (rho2 <= self.eps * gjj)
        changed = False
        if bool(stuck.any()):
            stuck &= self.stop_at > k
            if bool(stuck.any()):
                self.stop_at = torch.where(stuck, k, self.stop_at)
                self.early = changed = True
        inv_k = rho2.rsqrt()[:, None]
        inv[k] = inv_k
        ak = aj * inv_k  # <q_k, x>
        alpha.addcmul_(Uk, ak * inv_k, value=-1)
        alpha.scatter_(1, j[:, None], 0.0)  # exact zero: a selected atom is never re-picked
        self.support.append(j)
        self.wrows.append(w)
        self.rho2.append(rho2)
        if self.tol is not None:
            self.energy = self.energy - ak.view(c).square()
            reached = (self.energy.abs() <= self.tol) & (self.stop_at > k + 1)
            if bool(reached.any()):
                self.stop_at = torch.where(reached, k + 1, self.stop_at)
                changed = True
        return changed or (k + 1 in self.budget_ends)

    def _grow(self) -> None:
        k, c, n = self.U.shape
        rows = min(2 * k, self.max_stop)
        U = self.U.new_empty(rows, c, n)
        U[:k] = self.U
        inv = self.inv.new_empty(rows, c, 1)
        inv[:k] = self.inv
        self.U, self.inv = U, inv

    def _compact(self, k: int, out: _Sink) -> None:
        """Write out the rows that are done after ``k`` steps and drop them from the state."""
        done = self.stop_at <= k
        if not bool(done.any()):
            return
        self._finish(done, k, out)
        keep = (~done).nonzero().squeeze(1)
        self.rows = self.rows[keep]
        self.alpha = self.alpha[keep]
        self.alpha0 = self.alpha0[keep]
        self.stop_at = self.stop_at[keep]
        self.noise = self.noise[keep]
        self.U = self.U[:, keep]
        self.inv = self.inv[:, keep]
        self.support = [s[keep] for s in self.support]
        self.wrows = [w[:, keep] for w in self.wrows]
        self.rho2 = [r[keep] for r in self.rho2]
        if self.norms is not None:
            self.norms = self.norms[keep]
        if self.tol is not None:
            self.tol, self.energy = self.tol[keep], self.energy[keep]
        self.max_stop = int(self.stop_at.max()) if len(keep) else 0

    def _finish(self, sel: Tensor, m: int, out: _Sink) -> None:
        """Solve the coefficients of the rows ``sel`` from their first ``m`` steps."""
        out.early = out.early or self.early
        rows = self.rows[sel]
        r = len(rows)
        if r == 0:
            return
        dev, dt = self.alpha.device, self.alpha.dtype
        n_iter = self.stop_at[sel].clamp(max=m)
        out.n_iter[rows] = n_iter
        if m == 0:
            if out.energy is not None:
                out.energy[rows] = self.norms_or_zero(sel)
            return
        slots = torch.arange(m, device=dev)
        dead = slots[None, :] >= n_iter[:, None]  # (r, m): steps a row did not take
        idx = torch.stack([s[sel] for s in self.support], 1).masked_fill(dead, 0)
        L = torch.zeros(r, m, m, dtype=dt, device=dev)
        for i in range(1, m):
            L[:, i, :i] = self.wrows[i][:, sel, 0].T
        diag = torch.stack([p[sel] for p in self.rho2], 1).masked_fill(dead, 1.0)
        L.masked_fill_(dead[:, :, None], 0.0)
        L.diagonal(dim1=1, dim2=2).copy_(diag.sqrt())
        rhs = self.alpha0[sel].gather(1, idx).masked_fill(dead, 0.0)
        # a = L⁻¹ α⁰_Λ (coordinates on q); γ after step s = L_sᵀ⁻¹ a_{:s}: one inverse for all s.
        a = torch.linalg.solve_triangular(L, rhs[:, :, None], upper=False).squeeze(2)
        if out.energy is not None:
            out.energy[rows] = self.norms_or_zero(sel) - a.square().sum(1)
        if out.pieces is None:
            gamma = torch.linalg.solve_triangular(L.mT, a[:, :, None], upper=True).squeeze(2)
            out.coef[rows] = out.coef.new_zeros(r, out.coef.shape[1]).scatter_add_(1, idx, gamma)
            return
        eye = torch.eye(m, dtype=dt, device=dev).expand(r, m, m)
        F = torch.linalg.solve_triangular(L, eye, upper=False)  # rows: q_i in atom coordinates
        steps = (F * a[:, :, None]).cumsum(1)  # (r, m, m): γ after each step, by slot
        piece = torch.zeros(m, r, out.coef.shape[1], dtype=dt, device=dev)
        piece.scatter_add_(2, idx.unsqueeze(0).expand(m, r, m), steps.transpose(0, 1))
        out.coef[rows] = piece[-1]
        out.pieces.append((rows, piece))

    def norms_or_zero(self, sel: Tensor) -> Tensor:
        return self.norms[sel] if self.norms is not None else self.alpha0.new_zeros(int(sel.sum()))
