"""Geometry of a dictionary: the Babel function (global and co-selected) and coherences.

Dictionaries have shape ``(..., n_atoms, n_features)`` (atoms as rows); leading ("runs")
dimensions give one result per run. Atoms are scaled to unit norm first (the definitions
assume unit atoms); an all-zero atom stays zero.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from mplib.metrics._validation import (
    as_tensor,
    check_nonneg_float,
    check_positive_int,
    chunk_rows,
    same_device,
    to_output,
    unit_rows,
)
from mplib.repro import numpy_generator

__all__ = [
    "CoherenceHistogram",
    "CoselectedBabel",
    "babel",
    "babel_coselected",
    "coherence_histogram",
    "pairwise_cosines",
]


def _dictionary(dictionary: Any) -> torch.Tensor:
    D = as_tensor(dictionary, "dictionary", min_ndim=2)
    if D.shape[-2] < 2:
        raise ValueError(f"dictionary needs at least 2 atoms, got shape {tuple(D.shape)}")
    return unit_rows(D)


def _r_max(r_max: Any, limit: int) -> int:
    if r_max is None:
        return limit
    r = check_positive_int(r_max, "r_max")
    if r > limit:
        raise ValueError(f"r_max must be at most n_atoms - 1 = {limit}, got {r}")
    return r


def babel(dictionary: Any, *, r_max: int | None = None) -> np.ndarray:
    """Babel function ``μ₁(r)`` of a dictionary for ``r = 1 … r_max``.

    ``μ₁(r) = max_i max_{|Λ| = r, i ∉ Λ} Σ_{j ∈ Λ} |⟨d_i, d_j⟩|``: the largest sum of the ``r``
    largest absolute coherences of any atom with the others. ``μ₁(1)`` is the mutual coherence;
    an orthonormal dictionary gives 0 and a dictionary of copies of one atom gives ``r``.

    Parameters
    ----------
    dictionary : array_like or Tensor of shape (..., n_atoms, n_features)
        Atoms as rows (scaled to unit norm here).
    r_max : int, default=None
        Largest order; None means ``n_atoms - 1``.

    Returns
    -------
    ndarray of shape (..., r_max)
        Entry ``r - 1`` holds ``μ₁(r)``.

    Notes
    -----
    J. A. Tropp, "Greed is good: algorithmic results for sparse approximation", IEEE Trans.
    Inf. Theory 50(10), 2004. Rows of ``|DDᵀ|`` are sorted a chunk at a time, so memory stays
    at a few chunks of rows for large dictionaries.

    Examples
    --------
    >>> babel(np.eye(3))
    array([0., 0.])
    >>> babel(np.ones((3, 2)))
    array([1., 2.])
    """
    D = _dictionary(dictionary)
    p = D.shape[-2]
    r = _r_max(r_max, p - 1)
    best = torch.full(D.shape[:-2] + (r,), -torch.inf, dtype=D.dtype, device=D.device)
    step = chunk_rows(p, p * max(1, D.shape[:-2].numel()))
    for s in range(0, p, step):
        rows = torch.arange(s, min(p, s + step), device=D.device)
        g = (D[..., rows, :] @ D.transpose(-1, -2)).abs()
        # -1 sorts below every |coherence| >= 0: the atom itself never counts.
        self_mask = rows[:, None] == torch.arange(p, device=D.device)[None, :]
        g = g.masked_fill(self_mask, -1.0)
        top = torch.topk(g, r, dim=-1).values
        best = torch.maximum(best, top.cumsum(dim=-1).amax(dim=-2))
    return to_output(best)


@dataclasses.dataclass(frozen=True)
class CoselectedBabel:
    """Babel function restricted to the atoms co-selected for one input, averaged over inputs."""

    babel: np.ndarray
    """Shape (..., r_max): entry ``r - 1`` is the mean of ``μ₁^{S(x)}(r)`` over the inputs with
    ``|S(x)| > r``; NaN where no input has that many atoms (see ``n_inputs``)."""
    n_inputs: np.ndarray
    """Shape (..., r_max): how many inputs each entry averages over."""


def babel_coselected(
    dictionary: Any, codes: Any, *, r_max: int | None = None, tol: float = 0.0
) -> CoselectedBabel:
    """Babel function over the atoms each input selects, averaged over inputs (Figs. 7, 21).

    For an input ``x`` with support ``S(x) = {j : |z_j| > tol}``,
    ``μ₁^{S}(r) = max_{i ∈ S}`` (sum of the ``r`` largest ``|⟨d_i, d_j⟩|``, ``j ∈ S, j ≠ i``),
    defined for ``r = 1 … |S| − 1``. Our averaging: entry ``r`` is the
    mean over the inputs with ``|S(x)| > r``.

    Parameters
    ----------
    dictionary : array_like or Tensor of shape (..., n_atoms, n_features)
        Atoms as rows (scaled to unit norm here).
    codes : array_like or Tensor of shape (..., n_samples, n_atoms)
        Codes of the inputs; leading dimensions broadcast against the dictionary's (e.g. one
        dictionary, codes at several inference sparsities).
    r_max : int, default=None
        Largest order (at most ``n_atoms - 1``); None means the largest support size minus one
        (over all runs).
    tol : float, default=0.0
        A code counts as selected when ``|z| > tol``.

    Returns
    -------
    CoselectedBabel

    Notes
    -----
    Cost ``O(n_samples · k² · (n_features + log k))`` for supports of size ``k``: subsample
    the inputs for large evaluation sets.

    Examples
    --------
    >>> D = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    >>> res = babel_coselected(D, np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
    >>> res.babel.round(3), res.n_inputs
    (array([0.7, 1.4]), array([2, 1]))
    """
    D = _dictionary(dictionary)
    z = same_device(as_tensor(codes, "codes", min_ndim=2, float64=False), D)
    try:
        if z.shape[-1] != D.shape[-2]:
            raise RuntimeError
        lead = torch.broadcast_shapes(z.shape[:-2], D.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"codes must have shape (..., n_samples, {D.shape[-2]}) with leading dimensions "
            f"that broadcast with the dictionary's {tuple(D.shape[:-2])}, got {tuple(z.shape)}"
        ) from None
    selected = z.abs() > check_nonneg_float(tol, "tol")
    k = int(selected.sum(dim=-1).max())
    r = _r_max(r_max, D.shape[-2] - 1) if r_max is not None else max(k - 1, 0)
    Df = D.expand(lead + D.shape[-2:]).reshape((-1,) + D.shape[-2:])
    sel = selected.expand(lead + selected.shape[-2:]).reshape((-1,) + selected.shape[-2:])
    sums = torch.zeros(Df.shape[0], r, dtype=torch.float64, device=D.device)
    counts = torch.zeros(Df.shape[0], r, dtype=torch.int64, device=D.device)
    if r > 0:
        for b in range(Df.shape[0]):
            sums[b], counts[b] = _coselected_one(Df[b], sel[b], k, r)
    mean = torch.where(counts > 0, sums / counts.clamp_min(1), torch.nan)
    return CoselectedBabel(
        babel=to_output(mean.reshape(lead + (r,))), n_inputs=to_output(counts.reshape(lead + (r,)))
    )


def _coselected_one(
    D: torch.Tensor, selected: torch.Tensor, k: int, r: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum and count ``μ₁^{S(x)}(r)`` over the inputs of one run (k = largest support)."""
    n, d = selected.shape[0], D.shape[-1]
    sums = torch.zeros(r, dtype=torch.float64, device=D.device)
    counts = torch.zeros(r, dtype=torch.int64, device=D.device)
    steps = torch.arange(1, r + 1, device=D.device)
    step = chunk_rows(n, k * (k + d))
    for s in range(0, n, step):
        m = selected[s : s + step]
        size = m.sum(dim=-1)
        # the selected atoms come first among the top-k of the 0/1 mask; the rest is padding
        idx = torch.topk(m.to(torch.int8), k, dim=-1).indices
        valid = torch.arange(k, device=D.device)[None, :] < size[:, None]
        atoms = D[idx]  # (c, k, d)
        g = (atoms @ atoms.transpose(-1, -2)).abs()
        eye = torch.eye(k, dtype=torch.bool, device=D.device)
        pad = ~(valid[:, None, :] & valid[:, :, None]) | eye
        g = g.masked_fill(pad, -1.0)  # sorts below every |coherence|
        top = torch.sort(g, dim=-1, descending=True).values[..., : min(r, k - 1)]
        cums = top.cumsum(dim=-1).masked_fill(~valid[:, :, None], -torch.inf).amax(dim=-2)
        ok = steps[None, : cums.shape[-1]] < size[:, None]  # r <= |S| - 1
        sums[: cums.shape[-1]] += torch.where(ok, cums, 0.0).sum(dim=0)
        counts[: cums.shape[-1]] += ok.sum(dim=0)
    return sums, counts


def pairwise_cosines(
    dictionary: Any, *, max_pairs: int = 10**6, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """Off-diagonal inner products ``⟨d_i, d_j⟩``, ``i < j``, of the unit atoms.

    Parameters
    ----------
    dictionary : array_like or Tensor of shape (..., n_atoms, n_features)
        Atoms as rows (scaled to unit norm here).
    max_pairs : int, default=10**6
        When the dictionary has more than ``max_pairs`` pairs, this many pairs are drawn
        uniformly at random (with replacement; the same pairs for every run) instead
        (our choice).
    seed : int or numpy.random.Generator, default=0
        Randomness of the pair sample.

    Returns
    -------
    ndarray of shape (..., n_pairs)
        All ``n_atoms (n_atoms − 1) / 2`` pairs in row-major order, or ``max_pairs`` sampled.

    Examples
    --------
    >>> pairwise_cosines(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])).round(3)
    array([0.707, 0.   , 0.707])
    """
    return to_output(_pair_values(dictionary, max_pairs, seed)[0])


def _pair_values(dictionary: Any, max_pairs: Any, seed: Any) -> tuple[torch.Tensor, bool]:
    D = _dictionary(dictionary)
    p, d = D.shape[-2:]
    max_pairs = check_positive_int(max_pairs, "max_pairs")
    sampled = p * (p - 1) // 2 > max_pairs
    if not sampled:
        i, j = np.triu_indices(p, k=1)
    else:
        rng = numpy_generator(seed)
        i = rng.integers(0, p, size=max_pairs)
        j = (i + rng.integers(1, p, size=max_pairs)) % p  # uniform over j != i
        i, j = np.minimum(i, j), np.maximum(i, j)
    i = torch.from_numpy(i).to(D.device)
    j = torch.from_numpy(j).to(D.device)
    out = torch.empty(D.shape[:-2] + i.shape, dtype=D.dtype, device=D.device)
    step = chunk_rows(len(i), 2 * d * max(1, D.shape[:-2].numel()))
    for s in range(0, len(i), step):
        a, b = D[..., i[s : s + step], :], D[..., j[s : s + step], :]
        out[..., s : s + step] = (a * b).sum(dim=-1)
    return out, sampled


@dataclasses.dataclass(frozen=True)
class CoherenceHistogram:
    """Histogram of the off-diagonal atom inner products of a dictionary."""

    counts: np.ndarray
    """Shape (..., n_bins): pairs per bin, one histogram per run."""
    edges: np.ndarray
    """Shape (n_bins + 1,): bin edges (the last bin includes its right edge)."""
    n_pairs: int
    """Pairs counted per run."""
    sampled: bool
    """Whether the pairs were a random sample (large dictionaries) rather than all of them."""

    @property
    def density(self) -> np.ndarray:
        """Counts normalised so that each histogram integrates to 1 over the edges."""
        return self.counts / (self.n_pairs * np.diff(self.edges))


def coherence_histogram(
    dictionary: Any,
    *,
    bins: int = 100,
    range: tuple[float, float] = (-1.0, 1.0),  # numpy.histogram's name, shadowing the builtin
    max_pairs: int = 10**6,
    seed: int | np.random.Generator = 0,
) -> CoherenceHistogram:
    """Histogram of the off-diagonal inner products ``⟨d_i, d_j⟩``, ``i < j`` (Fig. 17).

    Parameters
    ----------
    dictionary : array_like or Tensor of shape (..., n_atoms, n_features)
        Atoms as rows (scaled to unit norm here).
    bins : int, default=100
        Number of equal-width bins.
    range : (float, float), default=(-1.0, 1.0)
        Lower and upper edge.
    max_pairs : int, default=10**6
        Above this many pairs, a seeded random sample of pairs is used
        (see :func:`pairwise_cosines`).
    seed : int or numpy.random.Generator, default=0
        Randomness of the pair sample.

    Returns
    -------
    CoherenceHistogram

    Examples
    --------
    >>> h = coherence_histogram(np.eye(3), bins=4)
    >>> h.counts, h.edges
    (array([0, 0, 3, 0]), array([-1. , -0.5,  0. ,  0.5,  1. ]))
    """
    bins = check_positive_int(bins, "bins")
    try:
        lo, hi = (float(v) for v in range)
    except (TypeError, ValueError):
        lo = hi = float("nan")
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(
            f"range must be two finite numbers (low, high) with low < high, got {range!r}"
        )
    values, sampled = _pair_values(dictionary, max_pairs, seed)
    values = values.cpu().numpy()
    edges = np.linspace(lo, hi, bins + 1)
    flat = values.reshape(-1, values.shape[-1])
    counts = np.stack([np.histogram(v, bins=edges)[0] for v in flat])
    return CoherenceHistogram(
        counts=counts.reshape(values.shape[:-1] + (bins,)),
        edges=edges,
        n_pairs=int(values.shape[-1]),
        sampled=sampled,
    )
