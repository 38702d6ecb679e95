"""Gradient pursuit (GP) and approximate conjugate gradient pursuit (ACGP), batched, NN too.

Blumensath & Davies, "Gradient Pursuits", IEEE TSP 56(6), 2008. Per iteration, for
every signal still running::

    j = argmax |⟨d, r⟩| over atoms not in Γ ; Γ ← Γ ∪ {j}     (chunked, running argmax)
    g = A_Γ r                                 gradient on the support (gathered atoms A_Γ)
    GP:   u = g
    ACGP: u = g + b·u_prev, b = −⟨c_prev, c_g⟩ / ‖c_prev‖²   (conjugate to the last direction)
    c = uᵀ A_Γ ; step = ⟨r, c⟩ / ‖c‖² ; z_Γ += step·u ; r −= step·c

Work is on the gathered support atoms (B × S × d), never on dense B × N masked products; a
signal whose image ``c`` vanishes stops (no division by ‖c‖² = 0).

Non-negative variants (our definition): selection by the largest positive correlation; the
step is the exact line-search step cut at the first coefficient that would turn negative (so
‖r‖ never increases); coefficients that reach 0 leave the support (support = nonzero entries,
as in ``JoshEngels/SAE-Dark-Matter``) and their slot is reused; ACGP restarts from ``u = g``
after a cut step (conjugacy is lost there). Freed slots are refilled by later iterations, so
the loop runs until the support holds the budget after a full step, no positive correlation is
left, or ``max_iter`` iterations.
"""

from __future__ import annotations

import torch

from mplib.pursuit._common import FIRST_CAPACITY, KernelOut, grow, score_floor
from mplib.pursuit._select import chunk_for, select_atoms

__all__ = ["gradient_pursuit"]


def gradient_pursuit(
    X: torch.Tensor,
    D: torch.Tensor,
    budget: torch.Tensor,
    *,
    conjugate: bool,
    positive: bool = False,
    tol: torch.Tensor | None = None,
    normalize: bool = False,
    return_path: bool = False,
    max_iter: torch.Tensor | None = None,
    chunk_size: int | None = None,
) -> KernelOut:
    """Batched GP (``conjugate=False``) or ACGP (``conjugate=True``); inputs validated.

    Parameters
    ----------
    X : Tensor of shape (B, d)
        Signals.
    D : Tensor of shape (N, d)
        Atoms as rows.
    budget : Tensor of shape (B,), int64
        Support size per signal at most (= iterations for the signed variants).
    conjugate : bool
        ACGP directions instead of plain gradients.
    positive : bool, default=False
        Non-negative variant (see the module docstring).
    tol : Tensor of shape (B,), optional
        A signal stops once its squared residual norm is at most ``tol``.
    normalize : bool, default=False
        Select by ``|c_j| / ‖d_j‖`` (the step itself is unchanged).
    return_path : bool, default=False
        Also return dense codes after each iteration.
    max_iter : Tensor of shape (B,), optional
        Iteration cap of the non-negative variants (default ``2 · budget``).
    chunk_size : int, optional
        Atoms per correlation chunk.

    Returns
    -------
    KernelOut
    """
    n_signals, n_features = X.shape
    n_atoms = D.shape[0]
    dev, dt = X.device, X.dtype
    n_slots = min(int(budget.max()) if n_signals else 0, n_atoms)
    if positive:
        iter_cap = 2 * budget if max_iter is None else max_iter
    else:
        iter_cap = budget
    n_loops = int(iter_cap.max()) if n_signals else 0

    norms2 = torch.linalg.vector_norm(D, dim=-1).square()  # no N × d temporary
    inv_norm = None
    if normalize:
        inv_norm = torch.where(norms2 > 0, norms2.rsqrt(), torch.zeros((), dtype=dt, device=dev))
    floor = score_floor(X, norms2.sqrt(), normalize)
    tiny = torch.finfo(dt).tiny
    chunk = chunk_for(n_signals, n_atoms, dev, chunk_size)
    zero = X.new_zeros(())
    rows = torch.arange(n_signals, device=dev)

    cap = min(n_slots, FIRST_CAPACITY)
    A = X.new_zeros(n_signals, cap, n_features)
    z = X.new_zeros(n_signals, cap)
    idx = torch.zeros(n_signals, cap, dtype=torch.long, device=dev)
    occupied = torch.zeros(n_signals, cap, dtype=torch.bool, device=dev)
    u_prev = X.new_zeros(n_signals, cap)
    c_prev = X.new_zeros(n_signals, n_features)
    cp2 = X.new_zeros(n_signals)  # ‖c_prev‖²; 0 means "no previous direction"
    R = X.clone()
    n_iter = torch.zeros(n_signals, dtype=torch.long, device=dev)
    done = (budget <= 0) | (iter_cap <= 0)
    path_idx, path_z = [], []

    for it in range(n_loops):
        if tol is not None:
            done = done | ((R * R).sum(-1) <= tol)
        done = done | (n_iter >= iter_cap)
        if bool(done.all()):
            break
        # Slots beyond the iteration count are still empty: work on the used ones only.
        hi = min(it + 1, n_slots)
        if hi > cap:  # room for this iteration's atom (a tol-only budget is N atoms)
            cap = min(2 * cap, n_slots)
            A, z, idx = grow(A, (1,), cap), grow(z, (1,), cap), grow(idx, (1,), cap)
            occupied, u_prev = grow(occupied, (1,), cap), grow(u_prev, (1,), cap)
            path_idx = [grow(t, (1,), cap) for t in path_idx]
            path_z = [grow(t, (1,), cap) for t in path_z]
        room = occupied.sum(-1) < budget
        excl = torch.where(occupied, idx, torch.full_like(idx, -1))
        best, j = select_atoms(
            R, D, positive=positive, inv_norm=inv_norm, exclude=excl, chunk=chunk
        )
        # An iteration that cannot add an atom ends the signal: its support is full after an
        # uncut step (a cut frees a slot), or no atom is left to explain anything.
        add = ~done & room & (best > floor)
        done = done | ~add
        live = ~done
        if bool(add.any()):
            slot = (~occupied).to(torch.uint8).argmax(-1)  # first free slot
            slot = torch.where(add, slot, torch.zeros_like(slot))
            new_atom = D.index_select(0, j)
            keep_a = A[rows, slot]
            A[rows, slot] = torch.where(add.unsqueeze(-1), new_atom, keep_a)
            idx[rows, slot] = torch.where(add, j, idx[rows, slot])
            occupied[rows, slot] = occupied[rows, slot] | add

        Ah = A[:, :hi]
        g = torch.bmm(Ah, R.unsqueeze(-1)).squeeze(-1)
        g = torch.where(occupied[:, :hi] & live.unsqueeze(-1), g, zero)
        c = torch.bmm(g.unsqueeze(1), Ah).squeeze(1)
        u = g
        if conjugate:
            has_prev = cp2 > 0
            b = -(c_prev * c).sum(-1) / torch.where(has_prev, cp2, torch.ones_like(cp2))
            b = torch.where(has_prev, b, zero)
            u = g + b.unsqueeze(-1) * u_prev[:, :hi]
            c = c + b.unsqueeze(-1) * c_prev
        cc = (c * c).sum(-1)
        ok = live & (cc > tiny)
        done = done | (live & ~ok)
        live = ok
        step = torch.where(live, (R * c).sum(-1) / torch.where(live, cc, torch.ones_like(cc)), zero)
        cut = torch.zeros_like(live)
        if positive:
            # Largest step keeping every coefficient >= 0: min over u_i < 0 of z_i / (-u_i).
            zh = z[:, :hi]
            neg = occupied[:, :hi] & (u < 0)
            ratio = torch.where(neg, zh / torch.where(neg, -u, torch.ones_like(u)), float("inf"))
            smax, blocker = ratio.min(-1)
            cut = live & (smax < step)
            step = torch.where(cut, smax, step)
        z[:, :hi] += step.unsqueeze(-1) * u
        R = R - step.unsqueeze(-1) * c
        if positive and bool(cut.any()):
            leave = cut.unsqueeze(-1) & (
                (z <= 0) | (torch.arange(cap, device=dev) == blocker.unsqueeze(-1))
            )
            z = torch.where(leave, zero, z)
            occupied = occupied & ~leave
            idx = torch.where(leave, torch.zeros_like(idx), idx)
            A = torch.where(leave.unsqueeze(-1), zero, A)
            # Exact residual after the cut (the clipped coordinate moved by rounding only).
            R = torch.where(cut.unsqueeze(-1), X - torch.bmm(z.unsqueeze(1), A).squeeze(1), R)
        if conjugate:
            fresh = live & ~cut  # after a cut step the next direction restarts from g
            u_prev[:, :hi] = torch.where(fresh.unsqueeze(-1), u, zero)
            c_prev = torch.where(fresh.unsqueeze(-1), c, zero)
            cp2 = torch.where(fresh, cc, zero)
        n_iter += live.long()
        if return_path:
            path_idx.append(idx.clone())
            path_z.append(z.clone())

    residual = X - torch.bmm(z.unsqueeze(1), A).squeeze(1)
    path = None
    if return_path:
        n_steps = int(n_iter.max()) if n_signals else 0
        path = X.new_zeros(n_steps, n_signals, n_atoms)
        for t in range(n_steps):
            path[t].scatter_add_(1, path_idx[t], path_z[t])
    z = torch.where(occupied, z, zero)
    return KernelOut(idx, z, n_iter, residual, path, False)
