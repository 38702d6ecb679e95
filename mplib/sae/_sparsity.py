"""Shared pieces of the L1 models: the adaptive L1 coefficient and linear-encoder init."""

from __future__ import annotations

import torch


def adaptive_l1(
    coef: torch.Tensor,
    l0: torch.Tensor,
    target: torch.Tensor | None,
    step: int,
    n_steps: int,
    rate: float,
    warmup: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One update of the L1 coefficient that steers the batch L0 to a target, per run.

    The controller of ``mpsae/MP-SAE`` (after Glen Taggart): with ``W = int(warmup·n_steps)``,
    from step ``W + 1`` on the coefficient is multiplied by ``1 - rate`` when the batch L0 is
    below the target and by ``1 + rate`` otherwise; the coefficient applied to the loss is
    ramped linearly, ``coef · min((step + 1)/W, 1)``.

    Parameters
    ----------
    coef : Tensor of shape (M,)
        Current coefficient per run (the state).
    l0 : Tensor of shape (M,)
        Batch L0 per run.
    target : Tensor of shape (M,) or None
        Target L0; None keeps the coefficient fixed (only the ramp applies).
    step, n_steps : int
        0-based optimizer step and the run length.
    rate : float
        Multiplicative adaptation rate (toy: 3e-4).
    warmup : float
        Ramp length as a fraction of ``n_steps`` (toy: 0.2).

    Returns
    -------
    new_coef, effective : Tensor of shape (M,)
    """
    w = max(1, int(warmup * n_steps))
    if target is not None and step > w:
        up = l0.to(coef.dtype) >= target.to(coef.dtype)
        coef = torch.where(up, coef * (1 + rate), coef * (1 - rate))
    return coef, coef * min((step + 1) / w, 1.0)


def unit_rows(w: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit norm (zero rows stay zero)."""
    return w / w.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
