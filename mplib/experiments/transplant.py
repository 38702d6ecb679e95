"""Tokenizer-transplant experiments (Goddard & Fernandes Neto, 2025): arms, worlds and sweeps.

The method (the paper's §3, mergekit's ``tokensurgeon``): a donor token missing from the base
vocabulary is approximated by k steps of orthogonal matching pursuit of its **donor** row over
the donor rows of the shared ("anchor") tokens; the same anchor indices and coefficients,
applied to the **base** rows of those anchors, give its new base row. Plain OMP: raw
|correlation| selection, exactly k steps, least-squares refit, signed coefficients.

This module holds what the ``ts_*`` notebooks share:

* :class:`Arm` and :func:`approximate`: one approximation method (zero, mean, kNN-softmax,
  global linear map, OMP, centred OMP) applied to donor targets over anchors.
* :func:`toy_world` / :func:`toy_sweep`: the mechanism toy (two synthetic spaces; tokens are
  sparse mixes of shared concepts whose two embeddings are related by a map that is partly
  linear and partly random), scored by row cosine to the true base row.
* The language-model pieces live in :mod:`mplib.experiments.transplant_lm`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np

from mplib.pursuit import sparse_encode
from mplib.repro import derive_seed, numpy_generator

__all__ = [
    "Arm",
    "DEFAULT_ARMS",
    "ToyWorld",
    "ToyEmbeddings",
    "approximate",
    "row_cosine",
    "toy_sweep",
    "toy_world",
]

_METHODS = ("zero", "mean", "mean_anchors", "knn_softmax", "linear", "omp", "omp_centered")


class Arm(NamedTuple):
    """One approximation method and its budget."""

    method: str
    """One of zero, mean, mean_anchors, knn_softmax, linear, omp, omp_centered."""
    k: int = 0
    """OMP steps, or neighbours for kNN-softmax; 0 where the method has no k."""

    @property
    def label(self) -> str:
        """Short label for plots and JSON: ``OMP-8``, ``centred OMP-32``, ``kNN-softmax-32``."""
        names = {"zero": "zero", "mean": "mean", "mean_anchors": "mean (anchors)",
                 "knn_softmax": "kNN-softmax", "linear": "linear map", "omp": "OMP",
                 "omp_centered": "centred OMP"}
        return names[self.method] + (f"-{self.k}" if self.k else "")


DEFAULT_ARMS = (Arm("zero"), Arm("mean"), Arm("knn_softmax", 32), Arm("linear"),
                Arm("omp", 8), Arm("omp", 32), Arm("omp", 64),
                Arm("omp_centered", 8), Arm("omp_centered", 32), Arm("omp_centered", 64))
"""The arms every notebook runs: the paper's baselines, the pilots' kNN and linear map, plain
OMP at k ∈ {8, 32, 64} and centred OMP (our labelled variant) at the same k."""


def _omp_rows(T: np.ndarray, A_d: np.ndarray, A_b: np.ndarray, k: int) -> np.ndarray:
    try:  # the library's transplant code, once present: mergekit's OMP exactly
        from mplib.transplant import approximate_rows
    except ImportError:
        approximate_rows = None
    if approximate_rows is not None:
        return np.asarray(approximate_rows(T, A_d, A_b, method="omp", k=k).rows,
                          dtype=np.float64)
    res = sparse_encode(T, A_d, algorithm="omp", n_nonzero_coefs=k, return_sparse=True)
    return np.einsum("nk,nkd->nd", res.values, A_b[res.indices])


def approximate(arm: Arm, targets: np.ndarray, donor_anchors: np.ndarray,
                base_anchors: np.ndarray, *, base_rows: np.ndarray | None = None,
                temperature: float = 0.1) -> np.ndarray:
    """Approximate the base rows of donor targets by one arm.

    Parameters
    ----------
    arm : Arm
    targets : ndarray of shape (n_targets, D_d)
        Donor rows of the tokens to approximate.
    donor_anchors : ndarray of shape (n_anchors, D_d)
        Donor rows of the anchors.
    base_anchors : ndarray of shape (n_anchors, D_b)
        Base rows of the same anchors, same order.
    base_rows : ndarray of shape (V_b, D_b), optional
        Every base row (``mean`` averages them all, mergekit's meaning); default the anchors.
    temperature : float, default=0.1
        kNN-softmax temperature τ (weights ``softmax(cos / τ)`` over the k nearest by cosine).

    Returns
    -------
    ndarray of shape (n_targets, D_b), float64

    Notes
    -----
    ``omp`` is plain OMP with coefficient transfer (mergekit's). ``omp_centered`` subtracts the
    donor anchor mean from targets and atoms, runs OMP, applies the coefficients to the centred
    base anchors and adds the base anchor mean back, so the base's common component enters every
    new row with weight exactly 1 — our labelled variant, not mergekit's. ``linear`` is the least
    squares affine map from donor to base anchor rows.
    """
    if not isinstance(arm, Arm) or arm.method not in _METHODS:
        raise ValueError(f"arm must be an Arm with a method in {_METHODS}, got {arm!r}")
    T = np.asarray(targets, dtype=np.float64)
    A_d = np.asarray(donor_anchors, dtype=np.float64)
    A_b = np.asarray(base_anchors, dtype=np.float64)
    if T.ndim != 2 or A_d.ndim != 2 or A_b.ndim != 2 or T.shape[1] != A_d.shape[1]:
        raise ValueError(f"targets {T.shape} and donor_anchors {A_d.shape} must be 2-d with the "
                         "same width")
    if A_d.shape[0] != A_b.shape[0]:
        raise ValueError(f"donor_anchors and base_anchors must have the same rows, got "
                         f"{A_d.shape[0]} and {A_b.shape[0]}")
    n, D_b = T.shape[0], A_b.shape[1]
    if arm.method == "zero" or n == 0:
        return np.zeros((n, D_b))
    if arm.method in ("mean", "mean_anchors"):
        src = A_b if arm.method == "mean_anchors" or base_rows is None else base_rows
        return np.tile(np.asarray(src, np.float64).mean(0), (n, 1))
    if arm.method == "linear":
        X = np.column_stack([A_d, np.ones(len(A_d))])
        W, *_ = np.linalg.lstsq(X, A_b, rcond=None)
        return np.column_stack([T, np.ones(n)]) @ W
    if arm.method == "knn_softmax":
        An = A_d / np.maximum(np.linalg.norm(A_d, axis=1, keepdims=True), 1e-12)
        Tn = T / np.maximum(np.linalg.norm(T, axis=1, keepdims=True), 1e-12)
        out = np.empty((n, D_b))
        for s in range(0, n, 1024):
            cos = Tn[s : s + 1024] @ An.T
            idx = np.argpartition(-cos, arm.k - 1, axis=1)[:, : arm.k]
            c = np.take_along_axis(cos, idx, 1) / temperature
            w = np.exp(c - c.max(1, keepdims=True))
            w /= w.sum(1, keepdims=True)
            out[s : s + 1024] = np.einsum("nk,nkd->nd", w, A_b[idx])
        return out
    if arm.method == "omp":
        return _omp_rows(T, A_d, A_b, arm.k)
    mu_d, mu_b = A_d.mean(0), A_b.mean(0)
    return _omp_rows(T - mu_d, A_d - mu_d, A_b - mu_b, arm.k) + mu_b


def row_cosine(approx: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Cosine of each approximated row to the true row (0 for a zero row), shape (n,)."""
    a, b = np.asarray(approx, np.float64), np.asarray(truth, np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(den > 0, (a * b).sum(1) / np.maximum(den, 1e-300), 0.0)


# ---------------------------------------------------------------------------------------------
# mechanism toy


@dataclasses.dataclass(frozen=True)
class ToyWorld:
    """Two synthetic embedding spaces built from shared concepts."""

    n_tokens: int = 3000
    """Vocabulary size (anchors + targets)."""
    n_concepts: int = 300
    """Shared concept atoms."""
    sparsity: int = 3
    """Concepts per token (composition sparsity)."""
    coverage: float = 0.8
    """Fraction of tokens that are anchors (shared); the rest are targets."""
    linear_fraction: float = 0.5
    """Weight of the linear part of the concept map: donor concept = a·(base concept @ M) +
    √(1 − a²)·(independent random vector)."""
    noise: float = 0.05
    """Std of the isotropic noise added to every row (relative to unit-scale rows)."""
    d_base: int = 96
    """Base width D_b."""
    d_donor: int = 128
    """Donor width D_d."""

    def __post_init__(self):
        for name in ("n_tokens", "n_concepts", "sparsity", "d_base", "d_donor"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.sparsity > self.n_concepts:
            raise ValueError(f"sparsity must be at most n_concepts, got {self.sparsity}")
        if not 0 < self.coverage < 1:
            raise ValueError(f"coverage must lie in (0, 1), got {self.coverage!r}")
        if not 0 <= self.linear_fraction <= 1:
            raise ValueError(f"linear_fraction must lie in [0, 1], got {self.linear_fraction!r}")
        if self.noise < 0:
            raise ValueError(f"noise must be non-negative, got {self.noise!r}")


class ToyEmbeddings(NamedTuple):
    """A toy world: both matrices and the anchor / target split."""

    base: np.ndarray
    """Base rows (n_tokens, d_base)."""
    donor: np.ndarray
    """Donor rows (n_tokens, d_donor)."""
    anchors: np.ndarray
    """Anchor token ids."""
    targets: np.ndarray
    """Target token ids (their base rows are the ground truth)."""


def toy_world(world: ToyWorld, *, seed: int = 0) -> ToyEmbeddings:
    """Draw a toy world (see :class:`ToyWorld`); rows have unit expected norm."""
    rng = numpy_generator(seed)
    C_b = rng.standard_normal((world.n_concepts, world.d_base)) / np.sqrt(world.d_base)
    M = rng.standard_normal((world.d_base, world.d_donor)) / np.sqrt(world.d_base)
    R = rng.standard_normal((world.n_concepts, world.d_donor)) / np.sqrt(world.d_donor)
    a = world.linear_fraction
    C_d = a * (C_b @ M) + np.sqrt(1 - a * a) * R
    Z = np.zeros((world.n_tokens, world.n_concepts))
    for i in range(world.n_tokens):
        idx = rng.choice(world.n_concepts, world.sparsity, replace=False)
        Z[i, idx] = rng.standard_normal(world.sparsity)
    Z /= np.sqrt(world.sparsity)
    E_b = Z @ C_b + world.noise * rng.standard_normal((world.n_tokens, world.d_base)) / np.sqrt(
        world.d_base)
    E_d = Z @ C_d + world.noise * rng.standard_normal((world.n_tokens, world.d_donor)) / np.sqrt(
        world.d_donor)
    perm = rng.permutation(world.n_tokens)
    n_anchor = int(round(world.coverage * world.n_tokens))
    return ToyEmbeddings(E_b, E_d, np.sort(perm[:n_anchor]), np.sort(perm[n_anchor:]))


def toy_sweep(world: ToyWorld, *, knob: str, values: list, arms: tuple = DEFAULT_ARMS,
              seeds: tuple = (0, 1, 2)) -> list[dict[str, Any]]:
    """Row cosine of every arm over one knob of the toy world, several seeds.

    Parameters
    ----------
    world : ToyWorld
        The fixed knobs.
    knob : str
        A :class:`ToyWorld` field to vary.
    values : list
        Its values.
    arms : tuple of Arm
    seeds : tuple of int
        One world per (value, seed).

    Returns
    -------
    list of dict
        One record per (value, seed, arm): ``knob``, ``value``, ``seed``, ``arm``, ``method``,
        ``k``, ``cosine`` (mean over targets).
    """
    if knob not in {f.name for f in dataclasses.fields(ToyWorld)}:
        raise ValueError(f"knob must be a ToyWorld field, got {knob!r}")
    records = []
    for v in values:
        w = dataclasses.replace(world, **{knob: v})
        for seed in seeds:
            e = toy_world(w, seed=derive_seed(seed, "toy", knob, str(v)))
            A_d, A_b = e.donor[e.anchors], e.base[e.anchors]
            for arm in arms:
                if arm.method.startswith("omp") and arm.k >= min(w.d_donor, len(e.anchors)):
                    continue  # k >= D_d is degenerate (mergekit mode raises)
                rows = approximate(arm, e.donor[e.targets], A_d, A_b, base_rows=e.base)
                records.append({"knob": knob, "value": v, "seed": seed, "arm": arm.label,
                                "method": arm.method, "k": arm.k,
                                "cosine": float(row_cosine(rows, e.base[e.targets]).mean())})
    return records
