"""Exact active-set non-negative least squares, batched, in Gram space.

Solves, for every problem of a batch, ``min_z ½ zᵀ G z − bᵀ z`` subject to ``z >= 0`` (and
``z_i = 0`` where ``allowed`` is False) — i.e. ``min ‖x − z A‖²`` with ``G = A Aᵀ``,
``b = A x`` — by the Lawson–Hanson active-set method in the Gram-space form of Bro & De Jong
(J. Chemometrics 11, 1997). Each problem keeps its own passive set as a mask; every iteration
does one of two moves per problem, all problems at once:

* the solution ``s`` of the unconstrained problem on the passive set P (masked k × k system,
  batched Cholesky) is feasible: accept it, then add the free coordinate with the largest
  gradient ``w = b − G z`` if it exceeds the tolerance, else the problem is solved;
* ``s`` is infeasible: step from ``z`` towards ``s`` up to the first coordinate that hits 0
  and drop it from P (the inner loop of Lawson–Hanson).

The KKT conditions at the end: ``w_i ≈ 0`` on P, ``w_i <= tol`` off P, ``z >= 0``. Warm starts
(``z0``) begin from ``P = {z0 > 0}``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["NNLSOut", "nnls_gram"]


class NNLSOut(NamedTuple):
    """What :func:`nnls_gram` returns."""

    z: torch.Tensor
    """Solutions (B, k), >= 0."""
    n_iter: torch.Tensor
    """Iterations used per problem (B,) int64."""
    converged: torch.Tensor
    """Whether the KKT conditions were met within ``max_iter`` (B,) bool."""


def _masked_solve(G: torch.Tensor, b: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Solve ``G_PP s_P = b_P`` per problem, ``s = 0`` off P (identity rows stand in)."""
    Pf = P.to(G.dtype)
    M = G * (Pf.unsqueeze(-1) * Pf.unsqueeze(-2))
    M = M + torch.diag_embed(1.0 - Pf)
    rhs = (b * Pf).unsqueeze(-1)
    L, info = torch.linalg.cholesky_ex(M)
    if bool((info > 0).any()):
        # Numerically singular passive block (near-dependent atoms): a ridge of eps times the
        # largest diagonal entry, on the failed problems only.
        bad = (info > 0).to(G.dtype)
        ridge = torch.finfo(G.dtype).eps * M.diagonal(dim1=-2, dim2=-1).amax(-1) * 16
        M = M + torch.diag_embed((bad * ridge).unsqueeze(-1) * Pf)
        L, _ = torch.linalg.cholesky_ex(M)
    return torch.cholesky_solve(rhs, L).squeeze(-1) * Pf


def nnls_gram(
    G: torch.Tensor,
    b: torch.Tensor,
    *,
    tol: torch.Tensor,
    z0: torch.Tensor | None = None,
    allowed: torch.Tensor | None = None,
    active: torch.Tensor | None = None,
    max_iter: int | None = None,
) -> NNLSOut:
    """Batched Lawson–Hanson NNLS on Gram matrices (inputs trusted).

    Parameters
    ----------
    G : Tensor of shape (B, k, k)
        Symmetric positive semi-definite matrices ``A Aᵀ``.
    b : Tensor of shape (B, k)
        Right-hand sides ``A x``.
    tol : Tensor of shape (B,)
        Absolute KKT tolerance per problem: a free coordinate enters only if its gradient
        exceeds it (callers make it relative to ``‖x‖ · max ‖a_i‖``).
    z0 : Tensor of shape (B, k), optional
        Feasible warm start (negative entries are clipped to 0).
    allowed : Tensor of shape (B, k), bool, optional
        Coordinates that may be nonzero (default all).
    active : Tensor of shape (B,), bool, optional
        Problems to solve; the others return ``z0`` unchanged (default all).
    max_iter : int, optional
        Iteration cap (default ``3 k + 10``).

    Returns
    -------
    NNLSOut
    """
    n, k = b.shape
    dev = b.device
    allowed = torch.ones(n, k, dtype=torch.bool, device=dev) if allowed is None else allowed
    z = b.new_zeros(n, k) if z0 is None else z0.clamp_min(0) * allowed
    P = (z > 0) & allowed
    running = torch.ones(n, dtype=torch.bool, device=dev) if active is None else active.clone()
    converged = ~running
    n_iter = torch.zeros(n, dtype=torch.long, device=dev)
    cap = 3 * k + 10 if max_iter is None else max_iter
    zero = b.new_zeros(())
    arange = torch.arange(k, device=dev)
    for _ in range(cap):
        if not bool(running.any()):
            break
        s = _masked_solve(G, b, P)
        infeasible = running & (P & (s <= 0)).any(-1)
        feasible = running & ~infeasible
        # Inner move: z + α (s − z), α = min over P ∩ {s <= 0} of z_i / (z_i − s_i).
        blocked = P & (s <= 0)
        denom = torch.where(blocked, z - s, torch.ones_like(z))
        ratio = torch.where(blocked, z / denom, float("inf"))
        alpha, blocker = ratio.min(-1)
        alpha = torch.where(infeasible, alpha.clamp(0, 1), zero)
        z_inner = z + alpha.unsqueeze(-1) * (s - z)
        drop = infeasible.unsqueeze(-1) & P & (
            (z_inner <= 0) | (arange == blocker.unsqueeze(-1))
        )
        z_inner = torch.where(drop, zero, z_inner)
        # Outer move: accept s, then add the best free coordinate if its gradient is large.
        z_outer = torch.where(P, s, zero)
        w = b - torch.bmm(G, z_outer.unsqueeze(-1)).squeeze(-1)
        cand = allowed & ~P
        wc = torch.where(cand, w, float("-inf"))
        wbest, enter = wc.max(-1)
        grow = feasible & (wbest > tol)
        solved = feasible & ~grow
        z = torch.where(infeasible.unsqueeze(-1), z_inner, z)
        z = torch.where(feasible.unsqueeze(-1), z_outer, z)
        P = P & ~drop
        P = P | (grow.unsqueeze(-1) & (arange == enter.unsqueeze(-1)))
        n_iter += running.long()
        converged = converged | solved
        running = running & ~solved
    z = z.clamp_min(0)
    return NNLSOut(z, n_iter, converged)
