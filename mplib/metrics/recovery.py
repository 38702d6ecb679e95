"""Recovery of a hierarchical ground truth: flat / hierarchical MSE and absorption.

Costa et al., *From Flat to Hierarchical* (2025), Fig. 4 (flat / hierarchical MSE) and Table 1
(absorption); the definitions are stated in full in each function's docstring.

Both take *aligned* atoms, ``atoms[..., i, :]`` matched to feature ``i`` (the ``atoms`` of
:func:`mplib.metrics.hungarian_alignment`), the ground-truth ``features`` and the hierarchy: a
``tree`` (``mplib.datasets.Tree`` or ``HierarchicalToy``, anything with ``levels`` and
``parents``) or the ``parents`` array (``-1`` for top-level features; ``levels`` optional).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from mplib.metrics._validation import (
    as_tensor,
    batch_shape,
    check_nonneg_float,
    hierarchy,
    same_device,
    to_output,
    unit_rows,
)

__all__ = [
    "AbsorptionResult",
    "FlatHierarchicalMSE",
    "PairMasks",
    "absorption_score",
    "flat_hierarchical_mse",
    "hierarchy_pair_masks",
]


@dataclasses.dataclass(frozen=True)
class PairMasks:
    """Ordered feature pairs ``(i, j)``, ``i ≠ j``, split by their place in the hierarchy.

    The three masks partition the off-diagonal pairs.
    """

    within: np.ndarray
    """(n_features, n_features) bool, set ``W``: same parent (same sibling group; the
    top-level features form one group)."""
    across: np.ndarray
    """(n_features, n_features) bool, set ``H``: different levels."""
    cross_family: np.ndarray
    """(n_features, n_features) bool: same level, different parents."""


def hierarchy_pair_masks(
    *, tree: Any = None, parents: Any = None, levels: Any = None, n_features: int | None = None
) -> PairMasks:
    """Split the ordered feature pairs into within-group, across-level and cross-family sets.

    Parameters
    ----------
    tree : mplib.datasets.Tree or HierarchicalToy, optional
        Anything with ``levels`` and ``parents`` arrays.
    parents : array_like of int, shape (n_features,), optional
        Parent feature of each feature, -1 at the top level (instead of ``tree``).
    levels : array_like of int, shape (n_features,), optional
        Depth of each feature (checked against ``parents``; derived when omitted).
    n_features : int, optional
        Expected number of features (checked when given).

    Returns
    -------
    PairMasks

    Examples
    --------
    >>> m = hierarchy_pair_masks(parents=[-1, 0, 0, -1])
    >>> int(m.within.sum()), int(m.across.sum()), int(m.cross_family.sum())
    (4, 8, 0)
    """
    lev, par = hierarchy(n_features, tree, levels, parents)
    off = ~np.eye(len(par), dtype=bool)
    same_level = lev[:, None] == lev[None, :]
    same_parent = par[:, None] == par[None, :]
    return PairMasks(
        within=off & same_parent,
        across=~same_level,
        cross_family=off & same_level & ~same_parent,
    )


@dataclasses.dataclass(frozen=True)
class FlatHierarchicalMSE:
    """Flat and hierarchical MSE (our definition; Costa et al. 2025, Fig. 4), per run."""

    flat_mse: float | np.ndarray
    """``mean_W (Ĝ_ij − G*_ij)²``: error of the within-group correlations."""
    hier_mse: float | np.ndarray
    """``mean_H Ĝ_ij²``: correlation across levels, which the truth does not have."""
    cross_family_mse: float | np.ndarray
    """``mean Ĝ_ij²`` over same-level pairs of different families."""
    flat_mse_alignment: float | np.ndarray
    """``mean_W (A_ij − G*_ij)²`` with ``A_ij = ⟨f_i, d̂_j⟩``."""
    hier_mse_alignment: float | np.ndarray
    """``mean_H A_ij²``."""
    cross_family_mse_alignment: float | np.ndarray
    """``mean A_ij²`` over same-level pairs of different families."""


def _aligned_pair(atoms: Any, features: Any) -> tuple[torch.Tensor, torch.Tensor]:
    A = as_tensor(atoms, "atoms", min_ndim=2)
    F = same_device(as_tensor(features, "features", min_ndim=2), A)
    batch_shape("atoms", A, "features", F)
    return unit_rows(A), unit_rows(F)


def flat_hierarchical_mse(
    atoms: Any,
    features: Any,
    *,
    tree: Any = None,
    parents: Any = None,
    levels: Any = None,
) -> FlatHierarchicalMSE:
    """Flat and hierarchical MSE of aligned atoms against a hierarchical ground truth (Fig. 4).

    Costa et al. (2025), Fig. 4 (B, C). **Our definition**: the paper names the two errors but
    its formulas are not in the available text.
    With ``Ĝ_ij = ⟨d̂_i, d̂_j⟩`` (aligned unit atoms) and ``G*_ij = ⟨f_i, f_j⟩`` (unit
    features), over ordered pairs ``i ≠ j`` (:func:`hierarchy_pair_masks`):

    * ``W``, same sibling group (the top level is one group; 110 + 3·6 = 128 pairs in the toy):
      ``flat_mse = mean_W (Ĝ_ij − G*_ij)²``, how well the within-level correlation is kept;
    * ``H``, different levels (one top-level node and one child, 2·11·9 = 198 pairs):
      ``hier_mse = mean_H Ĝ_ij²``, unintended correlation across levels (``G* = 0`` there by
      conditional orthogonality);
    * children of different families (54 pairs): ``cross_family_mse = mean Ĝ_ij²``.

    The same three numbers are reported with the alignment ``A_ij = ⟨f_i, d̂_j⟩`` in place of
    ``Ĝ`` (the ``FD̂ᵀ`` panel).

    Parameters
    ----------
    atoms : array_like or Tensor of shape (..., n_features, n_features_in)
        Learned atoms aligned to the features (row ``i`` ↔ feature ``i``); scaled to unit norm.
    features : array_like or Tensor of shape (..., n_features, n_features_in)
        Ground-truth directions as rows; scaled to unit norm. Leading dimensions broadcast.
    tree : mplib.datasets.Tree or HierarchicalToy, optional
        The hierarchy (anything with ``levels`` and ``parents``).
    parents : array_like of int, shape (n_features,), optional
        Instead of ``tree``: parent feature of each feature, -1 at the top level.
    levels : array_like of int, shape (n_features,), optional
        Depths, checked against ``parents``.

    Returns
    -------
    FlatHierarchicalMSE
        A set with no pairs (e.g. no cross-family pairs) gives NaN for its fields.

    Examples
    --------
    >>> F = np.eye(3)
    >>> flat_hierarchical_mse(F, F, parents=[-1, 0, 0]).hier_mse
    0.0
    """
    A, F = _aligned_pair(atoms, features)
    masks = hierarchy_pair_masks(tree=tree, parents=parents, levels=levels, n_features=A.shape[-2])
    g_hat = A @ A.transpose(-1, -2)
    g_true = F @ F.transpose(-1, -2)
    align = F @ A.transpose(-1, -2)

    def mean_over(values: torch.Tensor, mask: np.ndarray) -> float | np.ndarray:
        if not mask.any():
            return to_output(torch.full(values.shape[:-2], torch.nan, dtype=values.dtype))
        m = torch.from_numpy(mask).to(values.device)
        return to_output(values[..., m].mean(dim=-1))

    return FlatHierarchicalMSE(
        flat_mse=mean_over((g_hat - g_true).square(), masks.within),
        hier_mse=mean_over(g_hat.square(), masks.across),
        cross_family_mse=mean_over(g_hat.square(), masks.cross_family),
        flat_mse_alignment=mean_over((align - g_true).square(), masks.within),
        hier_mse_alignment=mean_over(align.square(), masks.across),
        cross_family_mse_alignment=mean_over(align.square(), masks.cross_family),
    )


@dataclasses.dataclass(frozen=True)
class AbsorptionResult:
    """Absorption of children into parents (Table 1), pooled over runs."""

    score: float
    """Mean of ``|parent_cosine|`` over the recovered (run, child) pairs; NaN ("not recovered")
    when fewer than half of the pairs are recovered. Lower is better."""
    signed_score: float
    """Mean of the signed ``parent_cosine`` over the same pairs (NaN likewise). Negative when
    child atoms point away from their parent (negative interference)."""
    recovered_fraction: float
    """Fraction of (run, child) pairs recovered (always stored)."""
    n_recovered: int
    """Number of recovered (run, child) pairs."""
    n_pairs: int
    """Number of (run, child) pairs."""
    children: np.ndarray
    """(n_children,): feature index of each child (features with a parent)."""
    parent_cosine: np.ndarray
    """(..., n_children): ``cos(d̂_π(c), f_parent(c))``."""
    child_cosine: np.ndarray
    """(..., n_children): ``cos(d̂_π(c), f_c)``."""
    recovered: np.ndarray
    """(..., n_children) bool: ``child_cosine >= threshold``."""


def absorption_score(
    atoms: Any,
    features: Any,
    *,
    tree: Any = None,
    parents: Any = None,
    levels: Any = None,
    threshold: float = 0.5,
) -> AbsorptionResult:
    """Absorption score: how much each learned child atom points at its parent (Table 1).

    Costa et al. (2025), Table 1 (appendix of the camera-ready): "the mean cosine similarity
    between each learned child atom and its ground-truth parent; lower is better". For each
    child ``c`` (a feature with a parent) let ``π`` be the Hungarian alignment of atoms to
    features and ``cos_c = cos(d̂_π(c), f_parent(c))``.

    **Our definition** (the paper gives no formula): the score is the mean of the
    *magnitude* ``|cos_c|``; the signed mean is returned too (``signed_score``). The paper's
    numbers imply the magnitude: all 22 printed values are positive, including MP-SAE's
    ~1e-3 at μ = 1 (a signed mean of noise around zero would come out negative in some of
    those cells) and Matryoshka's +0.15 … +0.22, where Matryoshka's child atoms lean *away*
    from their parents (negative interference, the paper's Figs. 4 and 16): a signed mean
    reports that as negative, and "lower is better" would then reward it.

    Recovery (the paper's "nan" cells, undefined there; our criterion): a child counts as
    recovered when ``cos(d̂_π(c), f_c) >= threshold``; both scores average over the recovered
    (run, child) pairs of all leading ("runs") dimensions together and are NaN when fewer
    than half of the pairs are recovered. The recovered fraction is always returned.

    Parameters
    ----------
    atoms : array_like or Tensor of shape (..., n_features, n_features_in)
        Learned atoms aligned to the features (row ``i`` ↔ feature ``i``); scaled to unit norm.
    features : array_like or Tensor of shape (..., n_features, n_features_in)
        Ground-truth directions as rows; scaled to unit norm. Leading dimensions broadcast.
    tree : mplib.datasets.Tree or HierarchicalToy, optional
        The hierarchy (anything with ``levels`` and ``parents``).
    parents : array_like of int, shape (n_features,), optional
        Instead of ``tree``: parent feature of each feature, -1 at the top level.
    levels : array_like of int, shape (n_features,), optional
        Depths, checked against ``parents``.
    threshold : float, default=0.5
        Recovery criterion on the child cosine.

    Returns
    -------
    AbsorptionResult

    Examples
    --------
    >>> F = np.eye(2)
    >>> absorbed = np.array([[1.0, 0.0], [1.0, 1.0]])  # the child atom is parent + child
    >>> round(absorption_score(absorbed, F, parents=[-1, 0]).score, 4)
    0.7071
    >>> away = np.array([[1.0, 0.0], [-1.0, 1.0]])  # leans away from its parent
    >>> res = absorption_score(away, F, parents=[-1, 0])
    >>> round(res.score, 4), round(res.signed_score, 4)
    (0.7071, -0.7071)
    """
    A, F = _aligned_pair(atoms, features)
    threshold = check_nonneg_float(threshold, "threshold")
    if threshold > 1:
        raise ValueError(f"threshold must be a cosine in [0, 1], got {threshold}")
    _, par = hierarchy(A.shape[-2], tree, levels, parents)
    children = np.flatnonzero(par >= 0)
    if children.size == 0:
        raise ValueError("the hierarchy has no children (every parent is -1): nothing to score")
    lead = torch.broadcast_shapes(A.shape[:-2], F.shape[:-2])
    c = torch.from_numpy(children).to(A.device)
    pa = torch.from_numpy(par[children]).to(A.device)
    child_atoms = A.expand(lead + A.shape[-2:])[..., c, :]
    Fe = F.expand(lead + F.shape[-2:])
    parent_cos = (child_atoms * Fe[..., pa, :]).sum(dim=-1)
    child_cos = (child_atoms * Fe[..., c, :]).sum(dim=-1)
    recovered = child_cos >= threshold
    n_rec, n_pairs = int(recovered.sum()), recovered.numel()
    frac = n_rec / n_pairs
    enough = 2 * n_rec >= n_pairs
    score = float(parent_cos[recovered].abs().mean()) if enough else float("nan")
    signed = float(parent_cos[recovered].mean()) if enough else float("nan")
    return AbsorptionResult(
        score=score,
        signed_score=signed,
        recovered_fraction=frac,
        n_recovered=n_rec,
        n_pairs=n_pairs,
        children=children,
        parent_cosine=to_output(parent_cos),
        child_cosine=to_output(child_cos),
        recovered=to_output(recovered),
    )
