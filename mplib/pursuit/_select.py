"""Atom selection by chunked correlations with a running argmax (no B × N matrix kept).

Shared by the residual-regime OMP, the gradient pursuits and non-negative OMP. Per chunk of
atoms ``[lo, hi)``: one GEMM ``R @ D[lo:hi].T`` into a B × chunk buffer, the score in place
(|c|, or c for the non-negative variants; times 1/‖d‖ with ``normalize``), already selected atoms
masked by index (O(B·S) per chunk, never a B × N mask), then a row max merged into the running
best. Ties go to the lowest atom index, as in the numpy references.
"""

from __future__ import annotations

import torch

__all__ = ["chunk_for", "select_atoms"]

# Elements of one B × chunk score buffer: large enough that the GEMM runs at full speed, small
# enough to stay in the last-level cache on CPU (measured on a 2-core EPYC, see benchmarks/).
_CPU_CHUNK_ELEMS = 2**21
_GPU_CHUNK_ELEMS = 2**27


def chunk_for(n_signals: int, n_atoms: int, device: torch.device, chunk_size: int | None) -> int:
    """Atoms per correlation chunk: ``chunk_size`` if given, else from a per-device budget."""
    if chunk_size is not None:
        return max(1, min(int(chunk_size), n_atoms))
    budget = _GPU_CHUNK_ELEMS if device.type == "cuda" else _CPU_CHUNK_ELEMS
    chunk = max(256, budget // max(1, n_signals))
    return min(n_atoms, chunk)


def select_atoms(
    R: torch.Tensor,
    D: torch.Tensor,
    *,
    positive: bool,
    inv_norm: torch.Tensor | None,
    exclude: torch.Tensor | None,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the best score and its atom per signal.

    Parameters
    ----------
    R : Tensor of shape (B, d)
        Residuals.
    D : Tensor of shape (N, d)
        Atoms as rows.
    positive : bool
        Score ``c`` (non-negative variants) instead of ``|c|``.
    inv_norm : Tensor of shape (N,), optional
        Multiply scores by ``1/‖d_j‖`` (``normalize=True``; 0 for zero atoms).
    exclude : Tensor of shape (B, k), int64, optional
        Atoms each signal may not pick (already selected); a negative entry excludes nothing.
    chunk : int
        Atoms per chunk.

    Returns
    -------
    best : Tensor of shape (B,)
        Best score (``-inf`` when every atom is excluded).
    index : Tensor of shape (B,), int64
        Its atom.
    """
    n_signals = R.shape[0]
    n_atoms = D.shape[0]
    best = index = None
    excl = exclude if (exclude is not None and exclude.shape[-1] > 0) else None
    if excl is not None:
        fill = torch.full(excl.shape, float("-inf"), dtype=R.dtype, device=R.device)
        keep = torch.full(excl.shape, float("inf"), dtype=R.dtype, device=R.device)
    for lo in range(0, n_atoms, chunk):
        hi = min(lo + chunk, n_atoms)
        s = R @ D[lo:hi].T
        if not positive:
            s.abs_()
        if inv_norm is not None:
            s.mul_(inv_norm[lo:hi])
        if excl is not None:
            local = excl - lo
            inside = (local >= 0) & (local < hi - lo)
            # amin with +inf leaves a score alone, with -inf masks it: no write conflicts when
            # several out-of-chunk slots clamp onto the same column.
            s.scatter_reduce_(
                1, local.clamp(0, hi - lo - 1), torch.where(inside, fill, keep), reduce="amin"
            )
        val, arg = s.max(-1)  # first maximal index: ties go to the lowest atom index
        if best is None:
            best, index = val, arg
        else:
            better = val > best  # strict: the lower index wins ties across chunks
            best = torch.where(better, val, best)
            index = torch.where(better, arg + lo, index)
    if best is None:  # no atoms: callers validate this away
        best = torch.full((n_signals,), float("-inf"), dtype=R.dtype, device=R.device)
        index = torch.zeros(n_signals, dtype=torch.long, device=R.device)
    return best, index
