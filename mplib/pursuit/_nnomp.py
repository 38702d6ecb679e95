"""Non-negative orthogonal matching pursuit: positive selection, exact NNLS refit.

Per iteration, for every signal still running::

    j = argmax ⟨d, r⟩ over atoms not yet selected ; stop if it is not positive
    Cholesky row of the selected block: L w = G_Λj, ρ² = ‖d_j‖² − ‖w‖² ; stop if ρ² <= eps·‖d_j‖²
    G_ΛΛ, b_Λ = A_Λ x grow by one row (gathered atoms, O(B·k·d))
    z_Λ = NNLS(G_ΛΛ, b_Λ), warm-started from the previous support's solution
    r = x − z_Λ A_Λ

The KKT conditions of the refit give ⟨d_i, r⟩ <= tol for selected atoms whose coefficient is 0,
so they would not be picked again (they are masked anyway). ``n_iter`` counts selected atoms;
some of them may end with a zero coefficient.
"""

from __future__ import annotations

import torch

from mplib.pursuit._common import FIRST_CAPACITY, KernelOut, dependence_floor, grow, score_floor
from mplib.pursuit._nnls import nnls_gram
from mplib.pursuit._select import chunk_for, select_atoms

__all__ = ["kkt_tolerance", "nn_omp"]


def kkt_tolerance(X: torch.Tensor, atom_norm_max: torch.Tensor, rtol: float | None) -> torch.Tensor:
    """Absolute KKT tolerance per signal: ``rtol · ‖x‖ · max ‖d‖`` (``rtol`` default sqrt(eps))."""
    r = torch.finfo(X.dtype).eps ** 0.5 if rtol is None else rtol
    return r * torch.linalg.vector_norm(X, dim=-1) * atom_norm_max


def nn_omp(
    X: torch.Tensor,
    D: torch.Tensor,
    budget: torch.Tensor,
    *,
    tol: torch.Tensor | None = None,
    normalize: bool = False,
    return_path: bool = False,
    chunk_size: int | None = None,
) -> KernelOut:
    """Batched non-negative OMP with an exact active-set NNLS refit (inputs validated).

    Parameters
    ----------
    X : Tensor of shape (B, d)
        Signals.
    D : Tensor of shape (N, d)
        Atoms as rows.
    budget : Tensor of shape (B,), int64
        Atoms selected per signal at most.
    tol : Tensor of shape (B,), optional
        A signal stops once its squared residual norm is at most ``tol``.
    normalize : bool, default=False
        Select by ``c_j / ‖d_j‖`` instead of ``c_j``.
    return_path : bool, default=False
        Also return dense codes after each iteration.
    chunk_size : int, optional
        Atoms per correlation chunk.

    Returns
    -------
    KernelOut
    """
    n_signals, n_features = X.shape
    n_atoms = D.shape[0]
    dev, dt = X.device, X.dtype
    n_slots = min(int(budget.max()) if n_signals else 0, n_features, n_atoms)

    norms2 = torch.linalg.vector_norm(D, dim=-1).square()  # no N × d temporary
    norms = norms2.sqrt()
    inv_norm = None
    if normalize:
        inv_norm = torch.where(norms2 > 0, norms2.rsqrt(), torch.zeros((), dtype=dt, device=dev))
    floor = score_floor(X, norms, normalize)
    kkt = kkt_tolerance(X, norms.max(), None)
    eps = dependence_floor(dt)
    chunk = chunk_for(n_signals, n_atoms, dev, chunk_size)

    cap = min(n_slots, FIRST_CAPACITY)
    A = X.new_zeros(n_signals, cap, n_features)
    G = torch.eye(cap, dtype=dt, device=dev).expand(n_signals, cap, cap).clone()
    L = G.clone()
    b = X.new_zeros(n_signals, cap)
    z = X.new_zeros(n_signals, cap)
    idx = torch.zeros(n_signals, cap, dtype=torch.long, device=dev)
    n_iter = torch.zeros(n_signals, dtype=torch.long, device=dev)
    dependent = torch.zeros((), dtype=torch.bool, device=dev)
    R = X.clone()
    done = budget <= 0
    zero = X.new_zeros(())
    one = X.new_ones(())
    path = []

    for k in range(n_slots):
        if tol is not None:
            done = done | ((R * R).sum(-1) <= tol)
        done = done | (n_iter >= budget)
        if bool(done.all()):
            break
        if k == cap:  # a tol-only budget is min(N, d) atoms: grow by doubling
            cap = min(2 * cap, n_slots)
            A, b, z, idx = (grow(t, (1,), cap) for t in (A, b, z, idx))
            G, L = grow(G, (1, 2), cap, eye=True), grow(L, (1, 2), cap, eye=True)
            path = [grow(t, (1,), cap) for t in path]
        best, j = select_atoms(
            R, D, positive=True, inv_norm=inv_norm, exclude=idx[:, :k], chunk=chunk
        )
        done = done | ~(best > floor)
        a = D.index_select(0, j)
        gk = torch.bmm(A[:, :k], a.unsqueeze(-1)).squeeze(-1)  # ⟨a_i, a⟩, i < k
        a2 = (a * a).sum(-1)
        if k:
            w = torch.linalg.solve_triangular(
                L[:, :k, :k], gk.unsqueeze(-1), upper=False
            ).squeeze(-1)
            rho2 = a2 - (w * w).sum(-1)
        else:
            w, rho2 = None, a2
        dep = ~done & (rho2 <= eps * a2)
        dependent = dependent | dep.any()
        done = done | dep
        live = ~done
        lv = live.unsqueeze(-1)
        A[:, k] = torch.where(lv, a, zero)
        idx[:, k] = torch.where(live, j, torch.zeros_like(j))
        if k:
            L[:, k, :k] = torch.where(lv, w, zero)
            G[:, k, :k] = torch.where(lv, gk, zero)
            G[:, :k, k] = G[:, k, :k]
        L[:, k, k] = torch.where(live, rho2.clamp_min(0).sqrt(), one)
        G[:, k, k] = torch.where(live, a2, one)
        b[:, k] = torch.where(live, (a * X).sum(-1), zero)
        allowed = torch.arange(k + 1, device=dev) < (n_iter + live.long()).unsqueeze(-1)
        sol = nnls_gram(
            G[:, : k + 1, : k + 1], b[:, : k + 1], tol=kkt, z0=z[:, : k + 1],
            allowed=allowed, active=live,
        )
        z[:, : k + 1] = torch.where(lv, sol.z, z[:, : k + 1])
        R = torch.where(lv, X - torch.bmm(z[:, None, : k + 1], A[:, : k + 1]).squeeze(1), R)
        n_iter += live.long()
        if return_path:
            path.append(z.clone())

    K = int(n_iter.max()) if n_signals else 0
    idx, z = idx[:, :K], z[:, :K]
    dense_path = None
    if return_path:
        dense_path = X.new_zeros(K, n_signals, n_atoms)
        for t in range(K):
            dense_path[t].scatter_add_(1, idx, path[t][:, :K])
    residual = X - torch.bmm(z.unsqueeze(1), A[:, :K]).squeeze(1)
    return KernelOut(idx, z, n_iter, residual, dense_path, bool(dependent))
