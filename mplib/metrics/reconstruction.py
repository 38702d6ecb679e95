"""Reconstruction quality: R², fraction of variance unexplained, normalised MSE.

All functions take signals ``X`` and reconstructions ``X_hat`` of shape
``(..., n_samples, n_features)``; leading ("runs") dimensions broadcast, so 200 SAEs evaluated
on one batch pass ``X`` of shape (n, d) and ``X_hat`` of shape (200, n, d). Sums run in float64,
in chunks of samples, so a large float16 set on the GPU is never copied whole.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from mplib.metrics._validation import (
    as_tensor,
    batch_shape,
    check_choice,
    chunk_rows,
    same_device,
    to_output,
)

__all__ = ["ReconstructionMetrics", "fvu", "nmse", "r2_score", "reconstruction_metrics"]

_MEANS = ("per_dim", "global")
_REDUCTIONS = ("mean_ratio", "ratio_of_sums")


def _pair(X: Any, X_hat: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Size]:
    x = as_tensor(X, "X", min_ndim=2, float64=False)
    xh = same_device(as_tensor(X_hat, "X_hat", min_ndim=2, float64=False), x)
    return x, xh, batch_shape("X", x, "X_hat", xh)


def _chunks(x: torch.Tensor, xh: torch.Tensor, batch: torch.Size):
    n, d = x.shape[-2:]
    step = chunk_rows(n, d * max(1, batch.numel()))
    for s in range(0, n, step):
        yield x[..., s : s + step, :].double(), xh[..., s : s + step, :].double()


def _sse_sst(X: Any, X_hat: Any, mean: str) -> tuple[torch.Tensor, torch.Tensor]:
    check_choice(mean, "mean", _MEANS)
    x, xh, batch = _pair(X, X_hat)
    n = x.shape[-2]
    total = sum(c.sum(dim=-2) for c, _ in _chunks(x, x, x.shape[:-2]))
    mu = total / n  # (..., d)
    if mean == "global":
        mu = mu.mean(dim=-1, keepdim=True)
    mu = mu.unsqueeze(-2)
    sse = torch.zeros(batch, dtype=torch.float64, device=x.device)
    sst = torch.zeros(x.shape[:-2], dtype=torch.float64, device=x.device)
    for c, ch in _chunks(x, xh, batch):
        sse = sse + (c - ch).square().sum(dim=(-2, -1))
        sst = sst + (c - mu).square().sum(dim=(-2, -1))
    if (sst == 0).any():
        raise ValueError("X has zero variance (every sample equal): R² is undefined")
    return sse, sst.expand(batch)


def r2_score(X: Any, X_hat: Any, *, mean: str = "per_dim") -> float | np.ndarray:
    """Coefficient of determination of a reconstruction.

    ``R² = 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖²``, sums over the samples of the evaluation set.

    Parameters
    ----------
    X : array_like or Tensor of shape (..., n_samples, n_features)
        Signals, one per row.
    X_hat : array_like or Tensor of shape (..., n_samples, n_features)
        Reconstructions; leading dimensions broadcast against those of ``X``.
    mean : {"per_dim", "global"}, default="per_dim"
        ``x̄``: the per-dimension mean over the samples (the primary definition, spec § 3.6,
        ``1 − FVU`` of EleutherAI; equals scikit-learn's
        ``r2_score(X, X_hat, multioutput="variance_weighted")``) or the scalar mean of all
        entries (``overcomplete.metrics.r2_score``; spec § 6 item 18).

    Returns
    -------
    float or ndarray of shape (...)
        1 for a perfect reconstruction, 0 for predicting the mean, negative when worse.

    Raises
    ------
    ValueError
        If shapes disagree, an input is not finite, or ``X`` has zero variance.

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]])
    >>> r2_score(X, X), r2_score(X, np.broadcast_to(X.mean(0), X.shape))
    (1.0, 0.0)
    """
    sse, sst = _sse_sst(X, X_hat, mean)
    return to_output(1.0 - sse / sst)


def fvu(X: Any, X_hat: Any, *, mean: str = "per_dim") -> float | np.ndarray:
    """Fraction of variance unexplained, ``FVU = Σ‖x − x̂‖² / Σ‖x − x̄‖² = 1 − R²``.

    Parameters
    ----------
    X : array_like or Tensor of shape (..., n_samples, n_features)
        Signals, one per row.
    X_hat : array_like or Tensor of shape (..., n_samples, n_features)
        Reconstructions; leading dimensions broadcast.
    mean : {"per_dim", "global"}, default="per_dim"
        How ``x̄`` is taken; see :func:`r2_score`.

    Returns
    -------
    float or ndarray of shape (...)

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]])
    >>> fvu(X, np.zeros_like(X)) > 1
    True
    """
    sse, sst = _sse_sst(X, X_hat, mean)
    return to_output(sse / sst)


def nmse(X: Any, X_hat: Any, *, reduction: str = "mean_ratio") -> float | np.ndarray:
    """Normalised mean squared error of a reconstruction (Fig. 20).

    Parameters
    ----------
    X : array_like or Tensor of shape (..., n_samples, n_features)
        Signals, one per row.
    X_hat : array_like or Tensor of shape (..., n_samples, n_features)
        Reconstructions; leading dimensions broadcast.
    reduction : {"mean_ratio", "ratio_of_sums"}, default="mean_ratio"
        ``mean_n ‖x̂ − x‖² / ‖x‖²`` (our choice for the paper's ``E‖x̂ − x‖²/‖x‖²``, spec § 3.6)
        or ``Σ‖x̂ − x‖² / Σ‖x‖²``.

    Returns
    -------
    float or ndarray of shape (...)

    Raises
    ------
    ValueError
        If a row of ``X`` is zero (its ratio is undefined; use ``"ratio_of_sums"``) or all of
        ``X`` is zero.

    Examples
    --------
    >>> X = np.array([[3.0, 4.0], [1.0, 0.0]])
    >>> nmse(X, np.array([[3.0, 4.0], [0.0, 0.0]]))
    0.5
    >>> round(nmse(X, np.array([[3.0, 4.0], [0.0, 0.0]]), reduction="ratio_of_sums"), 4)
    0.0385
    """
    check_choice(reduction, "reduction", _REDUCTIONS)
    x, xh, batch = _pair(X, X_hat)
    err = torch.zeros(batch, dtype=torch.float64, device=x.device)
    sig = torch.zeros(batch, dtype=torch.float64, device=x.device)
    for c, ch in _chunks(x, xh, batch):
        e, s = (c - ch).square().sum(dim=-1), c.square().sum(dim=-1)
        if reduction == "mean_ratio":
            if (s == 0).any():
                raise ValueError(
                    "X has rows of zero norm: their normalised error is undefined; use "
                    "reduction='ratio_of_sums'"
                )
            err = err + (e / s).sum(dim=-1)
        else:
            err, sig = err + e.sum(dim=-1), sig + s.sum(dim=-1)
    if reduction == "mean_ratio":
        return to_output(err / x.shape[-2])
    if (sig == 0).any():
        raise ValueError("X is all zero: the normalised error is undefined")
    return to_output(err / sig)


@dataclasses.dataclass(frozen=True)
class ReconstructionMetrics:
    """Every reconstruction number a figure's JSON stores (floats, or arrays over runs)."""

    r2: float | np.ndarray
    """R² with the per-dimension mean (primary)."""
    r2_global: float | np.ndarray
    """R² with the scalar mean of all entries (``overcomplete``'s variant)."""
    fvu: float | np.ndarray
    """Fraction of variance unexplained, ``1 − r2``."""
    nmse: float | np.ndarray
    """Mean over samples of ``‖x̂ − x‖² / ‖x‖²``."""
    nmse_ratio_of_sums: float | np.ndarray
    """``Σ‖x̂ − x‖² / Σ‖x‖²``."""
    sq_error: float | np.ndarray
    """Mean over samples of ``‖x − x̂‖²`` (the toy's training loss), in input units."""


def reconstruction_metrics(X: Any, X_hat: Any) -> ReconstructionMetrics:
    """Compute every reconstruction metric of this module at once.

    Parameters
    ----------
    X : array_like or Tensor of shape (..., n_samples, n_features)
        Signals, one per row.
    X_hat : array_like or Tensor of shape (..., n_samples, n_features)
        Reconstructions; leading dimensions broadcast.

    Returns
    -------
    ReconstructionMetrics

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 0.0]])
    >>> reconstruction_metrics(X, X).r2
    1.0
    """
    x, xh, batch = _pair(X, X_hat)
    sq = torch.zeros(batch, dtype=torch.float64, device=x.device)
    for c, ch in _chunks(x, xh, batch):
        sq = sq + (c - ch).square().sum(dim=(-2, -1))
    r2 = r2_score(x, xh)
    return ReconstructionMetrics(
        r2=r2,
        r2_global=r2_score(x, xh, mean="global"),
        fvu=1.0 - r2,
        nmse=nmse(x, xh),
        nmse_ratio_of_sums=nmse(x, xh, reduction="ratio_of_sums"),
        sq_error=to_output(sq / x.shape[-2]),
    )
