"""Pieces shared by the batched kernels: their output type, the warning text, stop thresholds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NamedTuple

import torch

__all__ = [
    "FIRST_CAPACITY",
    "PREMATURE",
    "KernelOut",
    "decode_slots",
    "dependence_floor",
    "grow",
    "score_floor",
    "torch_threads",
]

#: Slots allocated up front; more are added by doubling. A tol-only run has a budget of N
#: atoms, and B × N × d slots would not fit for SAE-sized dictionaries.
FIRST_CAPACITY = 64

# scikit-learn's text (sklearn/linear_model/_omp.py, ``premature``), verbatim: its tests and
# users match on it.
PREMATURE = (
    "Orthogonal matching pursuit ended prematurely due to linear"
    " dependence in the dictionary. The requested precision might"
    " not have been met."
)


class KernelOut(NamedTuple):
    """What a batched kernel returns, in slot form (the public layer scatters it)."""

    indices: torch.Tensor
    """Atom per slot, (B, S) int64; unused slots hold 0."""
    coef: torch.Tensor
    """Coefficient per slot, (B, S); unused slots hold 0."""
    n_iter: torch.Tensor
    """Iterations (atoms selected) per signal, (B,) int64."""
    residual: torch.Tensor
    """Final residual, (B, d)."""
    path: torch.Tensor | None
    """Dense codes after each iteration, (n_steps, B, N) with ``n_steps = max(n_iter)``, or
    None; a signal that stopped early repeats its final codes."""
    dependent: bool
    """Some signal stopped on a linearly dependent atom (the caller warns once)."""


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Run torch operations of this thread on ``n`` intra-op threads; yields the count before.

    The count is restored on exit (thread-local under OpenMP: a worker thread that sets it
    leaves the caller's own setting alone, and restoring keeps the default new threads
    inherit).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield before
    finally:
        torch.set_num_threads(before)


def score_floor(X: torch.Tensor, D_norms: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Per-signal selection threshold below which a signal counts as fully represented.

    Our definition: a signal stops once its best selection score is at most
    ``sqrt(eps) · ‖x‖ · max_j ‖d_j‖`` (``max_j ‖d_j‖`` replaced by 1 when scores are
    normalized). It is scikit-learn's ``α² < eps`` stop made relative to the scales of the
    signal and the dictionary; a zero signal stops before its first step.
    """
    eps = torch.finfo(X.dtype).eps
    scale = torch.linalg.vector_norm(X, dim=-1)
    if not normalize and D_norms.numel():
        scale = scale * D_norms.max()
    return eps**0.5 * scale


def dependence_floor(dtype: torch.dtype) -> float:
    """Relative guard: a new atom is dependent when ``ρ² <= eps · ‖d_j‖²``.

    ``ρ`` is the norm of the atom's part orthogonal to the selected ones (the new Cholesky
    diagonal); scikit-learn uses ``ρ² <= eps`` with unit atoms.
    """
    return torch.finfo(dtype).eps


def grow(t: torch.Tensor, dims: tuple[int, ...], size: int, eye: bool = False) -> torch.Tensor:
    """Pad ``t`` with zeros along ``dims`` up to ``size`` (``eye``: ones on the new diagonal)."""
    shape = list(t.shape)
    for dim in dims:
        shape[dim] = size
    out = t.new_zeros(shape)
    if eye:
        out.diagonal(dim1=dims[0], dim2=dims[1]).fill_(1)
    out[tuple(slice(0, n) for n in t.shape)] = t
    return out


def decode_slots(
    indices: torch.Tensor, coef: torch.Tensor, D: torch.Tensor, max_slots: int = 16
) -> torch.Tensor:
    """Return ``Σ_s coef[:, s] · D[indices[:, s]]`` (B, d), gathering a few slots at a time."""
    n_signals, n_slots = indices.shape
    out = torch.zeros(n_signals, D.shape[1], dtype=D.dtype, device=D.device)
    for lo in range(0, n_slots, max_slots):
        hi = min(lo + max_slots, n_slots)
        atoms = D.index_select(0, indices[:, lo:hi].reshape(-1)).view(n_signals, hi - lo, -1)
        out.add_(torch.bmm(coef[:, None, lo:hi], atoms).squeeze(1))
    return out
