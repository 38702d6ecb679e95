"""Batched orthogonal matching pursuit in Gram space (torch kernel, no autograd).

The loop never touches d-dimensional vectors: it needs the Gram matrix ``G = D Dᵀ`` and the
initial correlations ``α⁰ = X Dᵀ`` only. We use the inverse-Cholesky ("v0") scheme of spec
§1.2(c) after measuring it against Batch-OMP's triangular solves (see ``benchmarks/``): per
signal it keeps ``U`` (k × N), the inner products of every atom with the orthonormalized
selected atoms q₁ … q_k, and ``F`` (k × k) with ``q = F D_Λ``. Adding atom j::

    w   = U[:, j]                        # <q_i, d_j>
    ρ   = sqrt(G_jj − ‖w‖²)              # stop the signal if ρ² <= eps·G_jj (dependent atom)
    U_k = (G_j − wᵀU) / ρ                # one batched matrix-vector product, O(N·k)
    a_k = α_j / ρ                        # <q_k, x>
    α  ←  α − a_k U_k                    # correlations of the new residual
    F_k = (e_k − wᵀF) / ρ
    ‖r‖² ← ‖r‖² − a_k²

and the coefficients after any step are ``γ = Fᵀ a`` (so the path is cheap).

Semantics follow scikit-learn's ``orthogonal_mp_gram``: selection by the raw ``|α|`` (ties to
the lowest index), a selected atom is never selected again, ``tol`` is checked after each step
on ``|‖x‖² − Σ a²|``, and a signal stops early (``early_stop``) when the best correlation is
negligible (``α_j² <= eps·max(α⁰²)``, the scale-free form of scikit-learn's ``α_j² < eps``) or
the chosen atom is linearly dependent on the selected ones.

References: Rubinstein, Zibulevsky & Elad, "Efficient implementation of the K-SVD algorithm
using batch orthogonal matching pursuit", Technion CS report, 2008; Zhu et al., Electronics
9(9):1507, 2020; Lubonja, Præsius & Tran, arXiv:2407.06434.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["GramOMPOut", "omp_gram"]

#: Working-set target per chunk of signals (bytes of ``U``): small enough to stay in cache
#: on CPU, large enough to amortize per-step dispatch.
_CPU_CHUNK_BYTES = 8 * 2**20
_GPU_CHUNK_BYTES = 1 * 2**30


class GramOMPOut(NamedTuple):
    """What :func:`omp_gram` returns."""

    coef: Tensor
    """Final coefficients, (B, N), dtype and device of ``G``."""
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


def _chunk_size(n_signals: int, n_steps: int, n_atoms: int, G: Tensor) -> int:
    budget = _GPU_CHUNK_BYTES if G.device.type == "cuda" else _CPU_CHUNK_BYTES
    per_signal = max(1, n_steps) * n_atoms * G.element_size()
    return max(1, min(n_signals, budget // per_signal))


def omp_gram(
    G: Tensor,
    alpha0: Tensor,
    *,
    n_nonzero_coefs: Tensor,
    tol: Tensor | None = None,
    norms_squared: Tensor | None = None,
    return_path: bool = False,
    chunk_size: int | None = None,
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
        Atom budget per signal (``<= N``). It caps the atoms also when ``tol`` is given: pass
        ``N`` for scikit-learn's "``tol`` overrides ``n_nonzero_coefs``".
    tol : Tensor of shape (B,), optional
        Stop a signal once its squared residual norm is ``<= tol`` (tested after each step,
        as scikit-learn does). Needs ``norms_squared``.
    norms_squared : Tensor of shape (B,), optional
        ``‖x‖²`` per signal; enables ``residual_energy``.
    return_path : bool, default=False
        Also return the coefficients after every step.
    chunk_size : int, optional
        Signals per chunk (default: a working set of ~8 MB on CPU, ~1 GB on GPU). Results do
        not depend on it.

    Returns
    -------
    GramOMPOut
    """
    if tol is not None and norms_squared is None:
        raise ValueError("tol needs norms_squared (the squared norm of every signal)")
    n_signals, n_atoms = alpha0.shape
    dev, dt = G.device, G.dtype
    alpha0 = alpha0.to(dt)
    budget = n_nonzero_coefs.to(device=dev, dtype=torch.long).clamp(0, n_atoms)
    max_steps = int(budget.max()) if n_signals else 0
    c = chunk_size or _chunk_size(n_signals, max_steps, n_atoms, G)

    coef = torch.zeros(n_signals, n_atoms, dtype=dt, device=dev)
    n_iter = torch.zeros(n_signals, dtype=torch.long, device=dev)
    energy = None if norms_squared is None else norms_squared.to(device=dev, dtype=dt).clone()
    tol_t = None if tol is None else tol.to(device=dev, dtype=dt)
    paths: list[Tensor] = []
    early = False
    with torch.no_grad():
        gdiag = G.diagonal().clone()
        for lo in range(0, n_signals, c):
            hi = min(lo + c, n_signals)
            out = _omp_chunk(
                G,
                gdiag,
                alpha0[lo:hi],
                budget[lo:hi],
                None if tol_t is None else tol_t[lo:hi],
                None if energy is None else energy[lo:hi],
                max_steps,
                return_path,
            )
            coef[lo:hi], n_iter[lo:hi] = out[0], out[1]
            if energy is not None:
                energy[lo:hi] = out[2]
            if return_path:
                paths.append(out[3])
            early = early or out[4]
    path = None
    if return_path:
        n_steps = int(n_iter.max()) if n_signals else 0
        path = torch.empty(n_steps, n_signals, n_atoms, dtype=dt, device=dev)
        lo = 0
        for p in paths:
            hi = lo + p.shape[1]
            m = min(p.shape[0], n_steps)
            path[:m, lo:hi] = p[:m]
            if m < n_steps:  # this chunk finished earlier: repeat its final solution
                path[m:, lo:hi] = coef[lo:hi]
            lo = hi
    return GramOMPOut(coef, n_iter, path, energy, bool(early))


def _omp_chunk(
    G: Tensor,
    gdiag: Tensor,
    alpha0: Tensor,
    budget: Tensor,
    tol: Tensor | None,
    energy: Tensor | None,
    max_steps: int,
    return_path: bool,
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, bool]:
    """One chunk of signals; returns (coef, n_iter, energy, path, early_stop)."""
    c, n_atoms = alpha0.shape
    dev, dt = G.device, G.dtype
    eps = torch.finfo(dt).eps
    U = torch.empty(c, max_steps, n_atoms, dtype=dt, device=dev)
    F = torch.zeros(c, max_steps, max_steps, dtype=dt, device=dev)
    A = torch.zeros(c, max_steps, dtype=dt, device=dev)
    support = torch.zeros(c, max_steps, dtype=torch.long, device=dev)
    alpha = alpha0.clone()
    # Negligible-correlation threshold, relative to each signal's largest initial correlation.
    thr = eps * alpha0.square().amax(1) if n_atoms else alpha0.new_zeros(c)
    # Zero atoms can never be selected (their column of G is zero).
    banned = (gdiag <= 0).expand(c, n_atoms).clone()
    n_iter = torch.zeros(c, dtype=torch.long, device=dev)
    done = budget <= 0
    early = torch.zeros(c, dtype=torch.bool, device=dev)
    energy = None if energy is None else energy.clone()
    zero = torch.zeros((), dtype=dt, device=dev)
    one = torch.ones((), dtype=dt, device=dev)
    n_steps = 0
    for k in range(max_steps):
        if bool(done.all()):
            break
        n_steps = k + 1
        score = alpha.abs().masked_fill_(banned, float("-inf"))
        best, j = score.max(1)  # first maximal index: ties go to the lowest atom index
        aj = alpha.gather(1, j[:, None]).squeeze(1)
        gjj = gdiag[j]
        if k:
            w = U[:, :k, :].gather(2, j.view(c, 1, 1).expand(c, k, 1)).squeeze(2)
            rho2 = gjj - w.square().sum(1)
        else:
            w = None
            rho2 = gjj.clone()
        stuck = ~torch.isfinite(best) | (aj.square() <= thr) | (rho2 <= eps * gjj)
        stuck &= ~done
        early |= stuck
        done = done | stuck
        live = ~done
        rho = torch.where(live, rho2, one).sqrt()
        gj = G.index_select(0, j)
        if k:
            u = torch.baddbmm(gj.unsqueeze(1), w.unsqueeze(1), U[:, :k, :], alpha=-1).squeeze(1)
            F[:, k, :k] = torch.bmm(w.unsqueeze(1), F[:, :k, :k]).squeeze(1).neg_()
        else:
            u = gj
        inv_rho = rho.reciprocal()
        u.mul_(inv_rho[:, None])
        U[:, k, :] = u
        F[:, k, : k + 1] *= inv_rho[:, None]
        F[:, k, k] = inv_rho
        ak = torch.where(live, aj * inv_rho, zero)
        A[:, k] = ak
        alpha.addcmul_(u, ak[:, None], value=-1)
        support[:, k] = j
        banned.scatter_(1, j[:, None], True)
        n_iter += live.long()
        if energy is not None:
            energy = torch.where(live, energy - ak.square(), energy)
            if tol is not None:
                done = done | (live & (energy.abs() <= tol))
        done = done | (n_iter >= budget)

    S = n_steps
    # γ after step k, in support-slot coordinates: Σ_{i<=k} a_i F[i, :] (dead slots are 0).
    partial = F[:, :S, :S] * A[:, :S, None]
    idx = support[:, :S]
    path = None
    if return_path:
        steps = partial.cumsum(1)  # (c, S, S)
        gamma = steps[:, -1] if S else partial.sum(1)  # bitwise the path's last slice
        path = torch.zeros(S, c, n_atoms, dtype=dt, device=dev)
        path.scatter_add_(2, idx.unsqueeze(0).expand(S, c, S), steps.transpose(0, 1))
    else:
        gamma = partial.sum(1)
    coef = torch.zeros(c, n_atoms, dtype=dt, device=dev).scatter_add_(1, idx, gamma)
    return coef, n_iter, energy, path, bool(early.any())
