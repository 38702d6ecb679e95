"""Reconstruction quality: R², fraction of variance unexplained, normalised MSE.

All functions take signals ``X`` and reconstructions ``X_hat`` of shape
``(..., n_samples, n_features)``; leading ("runs") dimensions broadcast, so 200 SAEs evaluated
on one batch pass ``X`` of shape (n, d) and ``X_hat`` of shape (200, n, d). Sums run in float64,
in chunks of samples, so a large float16 set on the GPU is never copied whole.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

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


class _Sums(NamedTuple):
    """Everything the metrics need, gathered in one pass over the samples."""

    n: int
    sse: torch.Tensor  # (batch,) Σ‖x − x̂‖²
    sst_dim: torch.Tensor  # (x_lead,) Σ‖x − x̄‖², x̄ per dimension
    sst_global: torch.Tensor  # (x_lead,) Σ‖x − x̄‖², x̄ the scalar mean
    signal: torch.Tensor  # (x_lead,) Σ‖x‖²
    ratio: torch.Tensor | None  # (batch,) Σ‖x − x̂‖²/‖x‖², None when a row of X is zero
    batch: torch.Size


def _sums(X: Any, X_hat: Any) -> _Sums:
    x, xh, batch = _pair(X, X_hat)
    n, d = x.shape[-2:]
    lead = x.shape[:-2]
    zeros = functools.partial(torch.zeros, dtype=torch.float64, device=x.device)
    # Shifting by a mean of the first rows keeps Σ(x − s)² − (Σ(x − s))²/n free of
    # cancellation when the mean is large, so one pass is enough.
    shift = x[..., : min(n, 1024), :].double().mean(dim=-2, keepdim=True)
    s1, s2 = zeros(lead + (d,)), zeros(lead + (d,))
    lo = torch.full(lead + (d,), torch.inf, dtype=torch.float64, device=x.device)
    hi = -lo
    sse, ratio, signal = zeros(batch), zeros(batch), zeros(lead)
    zero_row = False
    step = chunk_rows(n, d * max(1, batch.numel()))
    for s in range(0, n, step):
        c, ch = x[..., s : s + step, :].double(), xh[..., s : s + step, :].double()
        err = (c - ch).square().sum(dim=-1)  # (batch, rows)
        rows = c.square().sum(dim=-1)  # (lead, rows)
        centred = c - shift
        s1, s2 = s1 + centred.sum(dim=-2), s2 + centred.square().sum(dim=-2)
        lo, hi = torch.minimum(lo, c.amin(dim=-2)), torch.maximum(hi, c.amax(dim=-2))
        sse, signal = sse + err.sum(dim=-1), signal + rows.sum(dim=-1)
        zero_row = zero_row or bool((rows == 0).any())
        if not zero_row:
            ratio = ratio + (err / rows).sum(dim=-1)
    constant = lo == hi  # exact test: a constant dimension has no variance at all
    sst_each = torch.where(constant, 0.0, (s2 - s1.square() / n).clamp_min(0.0))
    mean = shift.squeeze(-2) + s1 / n
    spread = (mean - mean.mean(dim=-1, keepdim=True)).square().sum(dim=-1)
    return _Sums(
        n=n,
        sse=sse,
        sst_dim=sst_each.sum(dim=-1),
        sst_global=sst_each.sum(dim=-1) + n * spread,
        signal=signal,
        ratio=None if zero_row else ratio,
        batch=batch,
    )


def _r2(sums: _Sums, mean: str) -> torch.Tensor:
    check_choice(mean, "mean", _MEANS)
    sst = sums.sst_dim if mean == "per_dim" else sums.sst_global
    if (sst == 0).any():
        raise ValueError("X has zero variance (every sample equal): R² is undefined")
    return 1.0 - sums.sse / sst.expand(sums.batch)


def _nmse(sums: _Sums, reduction: str) -> torch.Tensor:
    check_choice(reduction, "reduction", _REDUCTIONS)
    if reduction == "mean_ratio":
        if sums.ratio is None:
            raise ValueError(
                "X has rows of zero norm: their normalised error is undefined; use "
                "reduction='ratio_of_sums'"
            )
        return sums.ratio / sums.n
    if (sums.signal == 0).any():
        raise ValueError("X is all zero: the normalised error is undefined")
    return sums.sse / sums.signal.expand(sums.batch)


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
        ``x̄``: the per-dimension mean over the samples (the primary definition,
        ``1 − FVU`` of EleutherAI; equals scikit-learn's
        ``r2_score(X, X_hat, multioutput="variance_weighted")``) or the scalar mean of all
        entries (``overcomplete.metrics.r2_score``).

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
    check_choice(mean, "mean", _MEANS)
    return to_output(_r2(_sums(X, X_hat), mean))


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
    check_choice(mean, "mean", _MEANS)
    return to_output(1.0 - _r2(_sums(X, X_hat), mean))


def nmse(X: Any, X_hat: Any, *, reduction: str = "mean_ratio") -> float | np.ndarray:
    """Normalised mean squared error of a reconstruction (Fig. 20).

    Parameters
    ----------
    X : array_like or Tensor of shape (..., n_samples, n_features)
        Signals, one per row.
    X_hat : array_like or Tensor of shape (..., n_samples, n_features)
        Reconstructions; leading dimensions broadcast.
    reduction : {"mean_ratio", "ratio_of_sums"}, default="mean_ratio"
        ``mean_n ‖x̂ − x‖² / ‖x‖²`` (our choice for the paper's ``E‖x̂ − x‖²/‖x‖²``)
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
    return to_output(_nmse(_sums(X, X_hat), reduction))


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
    """Mean over samples of ``‖x̂ − x‖² / ‖x‖²``; NaN when ``X`` has a row of zero norm
    (e.g. blank image patches), where only ``nmse_ratio_of_sums`` is defined."""
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
    sums = _sums(X, X_hat)
    r2 = _r2(sums, "per_dim")
    return ReconstructionMetrics(
        r2=to_output(r2),
        r2_global=to_output(_r2(sums, "global")),
        fvu=to_output(1.0 - r2),
        nmse=to_output(
            _nmse(sums, "mean_ratio") if sums.ratio is not None else sums.sse * torch.nan
        ),
        nmse_ratio_of_sums=to_output(_nmse(sums, "ratio_of_sums")),
        sq_error=to_output(sums.sse / sums.n),
    )
