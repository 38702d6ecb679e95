"""The Gram regime of :func:`mplib.pursuit.sparse_encode`: ``G``, ``α⁰``, the kernel, results.

Two routes. On CPU tensors with numba installed, :func:`run_compiled` hands everything but
``G`` to :func:`mplib.pursuit._omp_gram_cpu.encode`, which works block by block on several
threads (``α⁰``, the pursuit, the residuals and the rescaled dense codes of a block while it
is in cache) and returns results in the caller's units. Elsewhere (CUDA, ``return_path``, no
numba) :func:`run_gram` forms ``α⁰ = X Dᵀ`` and calls :func:`mplib.pursuit._omp_gram.omp_gram`,
and :func:`mplib.pursuit.sparse_encode` finishes as for the other algorithms.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from mplib.pursuit import _omp_gram_cpu
from mplib.pursuit._common import KernelOut
from mplib.pursuit._omp_gram import omp_gram
from mplib.pursuit._validation import Prepared, pow2mul

__all__ = ["GramResult", "compiled", "run_compiled", "run_gram"]


class GramResult(NamedTuple):
    """Finished results of :func:`run_compiled`, in the units of the caller's problem."""

    codes: torch.Tensor | None
    """Dense codes (B, N); None with ``return_sparse``."""
    residual: torch.Tensor
    """``X − codes @ D`` (B, d)."""
    n_iter: torch.Tensor
    """Atoms selected per signal (B,) int64."""
    indices: torch.Tensor | None
    """With ``return_sparse``: atoms in selection order (B, max(n_iter)), padded with 0."""
    values: torch.Tensor | None
    """With ``return_sparse``: coefficients matching ``indices``, padded with 0."""
    premature: bool
    """Some signal stopped short of its budget and ``tol`` with a residual that is not ~0."""


def compiled(t: torch.Tensor) -> bool:
    """Whether the compiled CPU kernels apply to tensors like ``t``."""
    return _omp_gram_cpu.applies(t)


def _gram(prep: Prepared, normalize: bool, n_threads: int | None = None):
    """Return ``G`` (of the unit-norm atoms with ``normalize``), ``1/‖d_j‖`` or None, ``‖x‖²``."""
    D, X = prep.D, prep.X
    G = _omp_gram_cpu.gram(D, n_threads=n_threads) if n_threads else D @ D.T
    inv = None
    if normalize:
        norms2 = G.diagonal()
        inv = torch.where(norms2 > 0, norms2.rsqrt(), G.new_zeros(()))
        G = G * inv.unsqueeze(0) * inv.unsqueeze(1)
    return G, inv, torch.linalg.vecdot(X, X)


def _budget(prep: Prepared, x2: torch.Tensor) -> torch.Tensor:
    budget = prep.budget.clamp(max=min(prep.X.shape[1], prep.D.shape[0]))
    if prep.tol is not None:
        # scikit-learn tests tol after a step; ours holds before the first one too.
        budget = torch.where(x2 <= prep.tol, torch.zeros_like(budget), budget)
    return budget


def run_gram(prep: Prepared, normalize: bool, return_path: bool) -> KernelOut:
    """Gram-regime OMP through :func:`omp_gram` (any device); slot or dense results."""
    X, D = prep.X, prep.D
    G, inv, x2 = _gram(prep, normalize)
    alpha0 = X @ D.T
    if inv is not None:
        alpha0 = alpha0 * inv
    out = omp_gram(
        G, alpha0, n_nonzero_coefs=_budget(prep, x2), tol=prep.tol,
        norms_squared=x2 if prep.tol is not None else None, return_path=return_path,
        dense=False,
    )
    path = out.path
    if inv is not None and path is not None:
        path = path * inv
    if out.indices is not None:  # compiled CPU kernel: slots, never a dense (B, N) product
        values = out.values if inv is None else out.values * inv[out.indices]
        residual = torch.from_numpy(_omp_gram_cpu.sparse_residual(
            X.contiguous().numpy(), D.contiguous().numpy(), out.indices.numpy(),
            values.numpy(),
        ))
        return KernelOut(out.indices, values, out.n_iter, residual, path, out.early_stop)
    coef = out.coef if inv is None else out.coef * inv
    residual = X - coef @ D
    return KernelOut(None, coef, out.n_iter, residual, path, out.early_stop)


def run_compiled(prep: Prepared, normalize: bool, return_sparse: bool) -> GramResult:
    """Gram-regime OMP on the compiled CPU kernels, results rescaled to the caller's units.

    The power-of-two rescaling of :class:`Prepared` (``2**x_exp`` per signal, ``2**-d_exp``)
    is applied inside the kernels as two exact products, as ``unscale_codes`` does.
    """
    X, D = prep.X, prep.D
    with _omp_gram_cpu.one_intra_op_thread() as threads:  # parallel on worker threads only
        G, inv, x2 = _gram(prep, normalize, threads)
        rows = pow2mul(X.new_ones(X.shape[0]), prep.x_exp).numpy()
        tol = None if prep.tol is None else prep.tol.numpy()
        enc = _omp_gram_cpu.encode(
            X, D, G, _budget(prep, x2).numpy(), tol, x2.numpy(), inv, row_scale=rows,
            scale=2.0**-prep.d_exp, dense=not return_sparse, n_threads=threads,
        )
    x2n = x2.numpy()
    eps = np.finfo(enc.r2.dtype).eps
    # as api._premature: short of budget and tol (slack: tol is tested on an energy
    # recurrence, not on the exact residual), and the residual is not negligible
    target = prep.budget.clamp(max=min(X.shape[1], D.shape[0])).numpy()
    short = enc.n_iter < target
    if tol is not None:
        short &= enc.r2 > tol + np.sqrt(eps) * x2n
    premature = bool((short & (enc.r2 > eps * x2n)).any())
    indices = values = None
    if return_sparse:
        m = int(enc.n_iter.max())
        indices = torch.from_numpy(np.ascontiguousarray(enc.indices[:, :m]))
        values = prep.unscale_codes(torch.from_numpy(np.ascontiguousarray(enc.values[:, :m])))
    codes = None if enc.codes is None else torch.from_numpy(enc.codes)
    return GramResult(codes, torch.from_numpy(enc.residual), torch.from_numpy(enc.n_iter),
                      indices, values, premature)
