"""Batched non-negative least squares over a whole (small) dictionary.

``nnls(X, D)`` solves ``min_z ‖x − z D‖²`` subject to ``z >= 0`` for every row of ``X`` with the
exact active-set method of :mod:`mplib.pursuit._nnls` (Lawson–Hanson in Gram space). It works on
``G = D Dᵀ`` (n_atoms × n_atoms) per signal chunk, so it is meant for dictionaries of up to a
few hundred atoms; non-negative OMP uses the same kernel on its k × k supports.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import torch

from mplib.pursuit._nnls import nnls_gram
from mplib.pursuit._nnomp import kkt_tolerance
from mplib.pursuit._validation import prepare, to_output, to_tensor

__all__ = ["NNLSResult", "nnls"]

_CHUNK_BYTES = 64 * 2**20


class NNLSResult(NamedTuple):
    """Result of :func:`nnls` (numpy arrays or tensors, like the input ``X``)."""

    codes: Any
    """Non-negative codes (n_samples, n_atoms)."""
    residual: Any
    """``X − codes @ D`` (n_samples, n_features)."""
    n_iter: Any
    """Active-set iterations per signal (n_samples,) int64."""
    converged: Any
    """Whether the KKT conditions hold within ``tol`` (n_samples,) bool."""


def nnls(
    X: Any,
    D: Any,
    *,
    tol: float | None = None,
    init: Any = None,
    max_iter: int | None = None,
) -> NNLSResult:
    """Non-negative least squares for every row of X: ``min ‖x − z D‖², z >= 0``.

    Parameters
    ----------
    X : ndarray or Tensor of shape (n_samples, n_features)
        Signals, one per row.
    D : ndarray or Tensor of shape (n_atoms, n_features)
        Dictionary, one atom per row (a few hundred atoms at most: ``D Dᵀ`` is formed).
    tol : float, optional
        Relative KKT tolerance: stop once no coordinate at 0 has a gradient
        ``⟨d_i, x − z D⟩`` above ``tol · ‖x‖ · max ‖d_i‖``. Default ``sqrt(eps)`` of the
        dtype. Smaller is more exact.
    init : ndarray or Tensor of shape (n_samples, n_atoms), optional
        Warm start (negative entries are clipped to 0); the passive set starts as its
        support.
    max_iter : int, optional
        Active-set iterations at most (default ``3 · n_atoms + 10``).

    Returns
    -------
    NNLSResult

    Notes
    -----
    Lawson & Hanson, "Solving Least Squares Problems", 1974, ch. 23; Gram-space form after
    Bro & De Jong, "A fast non-negativity-constrained least squares algorithm",
    J. Chemometrics 11, 1997.

    Examples
    --------
    >>> import numpy as np
    >>> res = nnls(np.array([[1.0, -2.0]]), np.eye(2))
    >>> res.codes
    array([[1., 0.]])
    """
    if tol is not None and (
        isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0
    ):
        raise ValueError(f"tol must be a non-negative float or None, got {tol!r}")
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, int)):
        raise TypeError(f"max_iter must be a positive int or None, got {max_iter!r}")
    if max_iter is not None and max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    prep = prepare(X, D)
    Xs, Ds = prep.X, prep.D
    n_samples, n_atoms = Xs.shape[0], Ds.shape[0]
    z0 = None
    if init is not None:
        z0, _ = to_tensor(init, "init", device=Xs.device)
        if tuple(z0.shape) != (n_samples, n_atoms):
            raise ValueError(
                f"init must have shape ({n_samples}, {n_atoms}), got {tuple(z0.shape)}"
            )
        if not bool(torch.isfinite(z0).all()):
            raise ValueError("init must be finite, got NaN or inf entries")
        z0 = prep.rescale_codes(z0.to(Xs.dtype))  # into the rescaled problem's units
    with torch.no_grad():
        G = Ds @ Ds.T
        b = Xs @ Ds.T
        kkt = kkt_tolerance(Xs, torch.linalg.vector_norm(Ds, dim=-1).max(), tol)
        codes = Xs.new_zeros(n_samples, n_atoms)
        n_iter = torch.zeros(n_samples, dtype=torch.long, device=Xs.device)
        conv = torch.zeros(n_samples, dtype=torch.bool, device=Xs.device)
        step = max(1, _CHUNK_BYTES // max(1, n_atoms * n_atoms * Xs.element_size()))
        for lo in range(0, n_samples, step):
            hi = min(lo + step, n_samples)
            out = nnls_gram(
                G.expand(hi - lo, n_atoms, n_atoms), b[lo:hi], tol=kkt[lo:hi],
                z0=None if z0 is None else z0[lo:hi], max_iter=max_iter,
            )
            codes[lo:hi], n_iter[lo:hi], conv[lo:hi] = out
        residual = Xs - codes @ Ds
    return NNLSResult(
        to_output(prep.unscale_codes(codes), prep),
        to_output(prep.unscale_residual(residual), prep),
        to_output(n_iter, prep, is_float=False),
        to_output(conv, prep, is_float=False),
    )
