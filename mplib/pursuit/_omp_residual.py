"""Orthogonal matching pursuit in the residual regime: no Gram matrix, for SAE-sized dictionaries.

Per iteration, for every signal still running::

    c = R Dᵀ                  chunked over atoms, running argmax, selected atoms masked
    a = D[j]                  gathered (B × d)
    t = Q a ; v = a − Qᵀt     classical Gram–Schmidt, applied twice ("twice is enough")
    t += Q v ; v −= Qᵀ(Q v)
    ρ = ‖v‖ ; stop the signal if ρ² <= eps·‖a‖² (dependent atom)
    q = v/ρ ; p_k = ⟨q, r⟩ ; r −= p_k q
    L[k, :k] = t ; L[k, k] = ρ      (selected atoms A = L Q, L lower triangular)

and at the end ``Lᵀ γ = p`` (one batched triangular solve) gives the least-squares coefficients
on the support. Memory O(B·S·d + B·S²), never O(B·S·N).

Gram–Schmidt twice as two batched products is as accurate as modified Gram–Schmidt with one
re-orthogonalisation pass (Giraud, Langou & Rozložník, 2005) but needs 4 batched matrix products
per iteration instead of 2k small ones.
"""

from __future__ import annotations

import torch

from mplib.pursuit._common import (
    FIRST_CAPACITY,
    KernelOut,
    decode_slots,
    dependence_floor,
    grow,
    score_floor,
)
from mplib.pursuit._select import chunk_for, select_atoms

__all__ = ["omp_residual"]


def _orthogonalize(Qk: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project ``a`` (B, d) off the orthonormal rows of ``Qk`` (B, k, d), twice."""
    t = torch.bmm(Qk, a.unsqueeze(-1)).squeeze(-1)
    v = a - torch.bmm(t.unsqueeze(1), Qk).squeeze(1)
    t2 = torch.bmm(Qk, v.unsqueeze(-1)).squeeze(-1)
    v = v - torch.bmm(t2.unsqueeze(1), Qk).squeeze(1)
    return t + t2, v


def omp_residual(
    X: torch.Tensor,
    D: torch.Tensor,
    budget: torch.Tensor,
    *,
    tol: torch.Tensor | None = None,
    normalize: bool = False,
    return_path: bool = False,
    chunk_size: int | None = None,
) -> KernelOut:
    """Batched OMP without the Gram matrix (inputs validated by the caller).

    Parameters
    ----------
    X : Tensor of shape (B, d)
        Signals.
    D : Tensor of shape (N, d)
        Atoms as rows.
    budget : Tensor of shape (B,), int64
        Atoms per signal at most.
    tol : Tensor of shape (B,), optional
        A signal stops once its squared residual norm is at most ``tol``.
    normalize : bool, default=False
        Select by ``|c_j| / ‖d_j‖`` instead of ``|c_j|``.
    return_path : bool, default=False
        Also return the coefficients after each iteration.
    chunk_size : int, optional
        Atoms per correlation chunk.

    Returns
    -------
    KernelOut
    """
    n_signals, n_features = X.shape
    n_atoms = D.shape[0]
    dev, dt = X.device, X.dtype
    # More than d independent atoms cannot exist: the (d+1)-th is always dependent.
    n_slots = min(int(budget.max()) if n_signals else 0, n_features, n_atoms)

    norms2 = torch.linalg.vector_norm(D, dim=-1).square()  # no N × d temporary
    inv_norm = None
    if normalize:
        inv_norm = torch.where(norms2 > 0, norms2.rsqrt(), torch.zeros((), dtype=dt, device=dev))
    floor = score_floor(X, norms2.sqrt(), normalize)
    eps = dependence_floor(dt)
    chunk = chunk_for(n_signals, n_atoms, dev, chunk_size)

    # Per-signal state of the rows still in the batch; finished rows are written to the full
    # outputs and dropped once at most half the batch is live (compaction), so signals that
    # stop early (tol) stop paying for the correlation GEMM.
    cap = min(n_slots, FIRST_CAPACITY)
    L_out = torch.eye(cap, dtype=dt, device=dev).expand(n_signals, cap, cap).clone()
    p_out = X.new_zeros(n_signals, cap)
    idx_out = torch.zeros(n_signals, cap, dtype=torch.long, device=dev)
    n_iter_out = torch.zeros(n_signals, dtype=torch.long, device=dev)
    rows = torch.arange(n_signals, device=dev)
    Q = X.new_zeros(n_signals, cap, n_features)
    L, p, idx, n_iter = L_out.clone(), p_out.clone(), idx_out.clone(), n_iter_out.clone()
    dependent = torch.zeros((), dtype=torch.bool, device=dev)
    R = X.clone()
    done = budget <= 0
    zero = X.new_zeros(())
    one = X.new_ones(())

    def flush():
        L_out[rows], p_out[rows], idx_out[rows], n_iter_out[rows] = L, p, idx, n_iter

    for k in range(n_slots):
        if tol is not None:
            done = done | ((R * R).sum(-1) <= tol)
        done = done | (n_iter >= budget)
        n_live = int((~done).sum())
        if n_live == 0:
            break
        if k == cap:
            cap = min(2 * cap, n_slots)
            Q, p, idx = grow(Q, (1,), cap), grow(p, (1,), cap), grow(idx, (1,), cap)
            L = grow(L, (1, 2), cap, eye=True)
            L_out, p_out = grow(L_out, (1, 2), cap, eye=True), grow(p_out, (1,), cap)
            idx_out = grow(idx_out, (1,), cap)
        if n_live <= rows.numel() // 2:
            flush()
            keep = (~done).nonzero().squeeze(1)
            rows, Q, L, p, idx = rows[keep], Q[keep], L[keep], p[keep], idx[keep]
            n_iter, R, done, budget, floor = (
                n_iter[keep], R[keep], done[keep], budget[keep], floor[keep]
            )
            tol = None if tol is None else tol[keep]
        best, j = select_atoms(
            R, D, positive=False, inv_norm=inv_norm, exclude=idx[:, :k], chunk=chunk
        )
        done = done | ~(best > floor)  # nothing left to explain (also -inf: all masked)
        a = D.index_select(0, j)
        if k:
            t, v = _orthogonalize(Q[:, :k], a)
        else:
            t, v = None, a
        rho2 = (v * v).sum(-1)
        dep = ~done & (rho2 <= eps * (a * a).sum(-1))
        dependent = dependent | dep.any()
        done = done | dep
        live = ~done
        rho = torch.where(live, rho2.sqrt(), one)
        q = torch.where(live.unsqueeze(-1), v / rho.unsqueeze(-1), zero)
        Q[:, k] = q
        if t is not None:
            L[:, k, :k] = torch.where(live.unsqueeze(-1), t, zero)
        L[:, k, k] = rho
        pk = (q * R).sum(-1)  # ⟨q, r⟩ = ⟨q, x⟩ in exact arithmetic; r is the stabler choice
        R.sub_(pk.unsqueeze(-1) * q)
        p[:, k] = pk
        idx[:, k] = torch.where(live, j, torch.zeros_like(j))
        n_iter += live.long()
    flush()
    L, p, idx, n_iter = L_out, p_out, idx_out, n_iter_out

    K = int(n_iter.max()) if n_signals else 0  # later slots are unused by every signal
    idx, p, L = idx[:, :K], p[:, :K], L[:, :K, :K]
    path = None
    if return_path:
        eye = torch.eye(K, dtype=dt, device=dev).expand(n_signals, K, K)
        M = torch.linalg.solve_triangular(L, eye, upper=False)  # q_l = Σ_i M[l, i] a_i
        steps = (p.unsqueeze(-1) * M).cumsum(1).transpose(0, 1)  # (K, B, K) slot coefs
        coef = steps[-1].clone() if K else p  # bitwise the path's last slice
        path = X.new_zeros(K, n_signals, n_atoms)
        path.scatter_add_(2, idx.unsqueeze(0).expand(K, n_signals, K), steps)
    else:
        coef = torch.linalg.solve_triangular(
            L.transpose(-1, -2), p.unsqueeze(-1), upper=True
        ).squeeze(-1)
    # The exact residual, not the updated one: the update drifts (mostly in float32).
    residual = X - decode_slots(idx, coef, D)
    return KernelOut(idx, coef, n_iter, residual, path, bool(dependent))
