"""Statistics of codes: realised L0, dead latents, effective rank of the co-activation.

Codes ``Z`` have shape ``(..., n_samples, n_latents)`` (samples and latents as in ``X ≈ Z @ D``);
leading ("runs") dimensions give one value per run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mplib.metrics._validation import as_tensor, check_nonneg_float, chunk_rows, to_output

__all__ = ["dead_fraction", "dead_latents", "effective_rank", "l0"]


def _active(codes: Any, tol: float) -> torch.Tensor:
    z = as_tensor(codes, "codes", min_ndim=2, float64=False)
    return z.abs() > check_nonneg_float(tol, "tol")


def l0(codes: Any, *, tol: float = 0.0) -> float | np.ndarray:
    """Realised L0: the mean number of nonzero codes per input.

    Parameters
    ----------
    codes : array_like or Tensor of shape (..., n_samples, n_latents)
        Codes, one row per input.
    tol : float, default=0.0
        A code counts as nonzero when ``|z| > tol``.

    Returns
    -------
    float or ndarray of shape (...)

    Notes
    -----
    This is the realised L0, not the nominal k: an MP step that re-picks an atom
    adds no new nonzero, so MP's L0 can be below its number of steps.

    Examples
    --------
    >>> l0(np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0]]))
    1.5
    """
    active = _active(codes, tol)
    return to_output(active.sum(dim=-1, dtype=torch.float64).mean(dim=-1))


def dead_latents(codes: Any, *, tol: float = 0.0) -> np.ndarray:
    """Which latents never fire (``|z| <= tol`` on every input of the evaluation set).

    Parameters
    ----------
    codes : array_like or Tensor of shape (..., n_samples, n_latents)
        Codes, one row per input.
    tol : float, default=0.0
        A code counts as nonzero when ``|z| > tol``.

    Returns
    -------
    ndarray of bool, shape (..., n_latents)

    Examples
    --------
    >>> dead_latents(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]]))
    array([ True, False, False])
    """
    return to_output(~_active(codes, tol).any(dim=-2))


def dead_fraction(codes: Any, *, tol: float = 0.0) -> float | np.ndarray:
    """Fraction of latents that never fire on the evaluation set.

    The value depends on the size of the set: report it with the number of inputs.

    Parameters
    ----------
    codes : array_like or Tensor of shape (..., n_samples, n_latents)
        Codes, one row per input.
    tol : float, default=0.0
        A code counts as nonzero when ``|z| > tol``.

    Returns
    -------
    float or ndarray of shape (...)

    Examples
    --------
    >>> dead_fraction(np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]]))
    0.5
    """
    dead = ~_active(codes, tol).any(dim=-2)
    return to_output(dead.to(torch.float64).mean(dim=-1))


def effective_rank(codes: Any) -> float | np.ndarray:
    """Effective rank of the code co-activation matrix ``ZᵀZ`` (Figs. 6, 22).

    With ``λ`` the eigenvalues of ``ZᵀZ`` (the squared singular values of ``Z``) and
    ``q = λ / Σλ``, ``erank = exp(−Σ q log q)``, with ``0 · log 0 = 0``. It lies between 1 and
    the rank of ``Z``: ``n_latents`` for isotropic codes, 1 when every code is a multiple of one
    pattern.

    Parameters
    ----------
    codes : array_like or Tensor of shape (..., n_samples, n_latents)
        Codes, one row per input (not centred).

    Returns
    -------
    float or ndarray of shape (...)
        0 for codes that are all zero (our convention: ``erank(0) = rank(0) = 0``).

    Notes
    -----
    O. Roy and M. Vetterli, "The effective rank: a measure of effective dimensionality",
    EUSIPCO 2007. The eigenvalues come from the smaller of the two Gram matrices (``ZᵀZ``,
    accumulated in float64 over chunks of samples, or ``ZZᵀ`` when there are fewer samples than
    latents); both have the same nonzero spectrum.

    Examples
    --------
    >>> round(effective_rank(np.eye(4)), 6), round(effective_rank(np.ones((5, 3))), 6)
    (4.0, 1.0)
    """
    z = as_tensor(codes, "codes", min_ndim=2, float64=False)
    n, p = z.shape[-2:]
    if n >= p:
        gram = torch.zeros(z.shape[:-2] + (p, p), dtype=torch.float64, device=z.device)
        step = chunk_rows(n, p * max(1, z.shape[:-2].numel()))
        for s in range(0, n, step):
            c = z[..., s : s + step, :].double()
            gram = gram + c.transpose(-1, -2) @ c
    else:
        c = z.double()
        gram = c @ c.transpose(-1, -2)
    lam = torch.linalg.eigvalsh(gram).clamp_min(0.0)
    total = lam.sum(dim=-1, keepdim=True)
    q = lam / total.clamp_min(torch.finfo(torch.float64).tiny)
    erank = torch.exp(-torch.special.xlogy(q, q).sum(dim=-1))
    return to_output(torch.where(total.squeeze(-1) > 0, erank, torch.zeros_like(erank)))
