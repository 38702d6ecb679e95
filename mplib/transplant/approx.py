"""New base rows from donor rows: OMP in donor space with coefficient transfer, and baselines.

The method (Goddard & Fernandes Neto, arXiv 2506.06607, 2025, §3; mergekit's
``tokensurgeon/omp.py``)::

    for every new token t (donor row, D_d):
        (S_t, c_t) ← k steps of OMP of t over the anchors' donor rows A (N × D_d):
                     select argmax_j |⟨r, A_j⟩| over raw atoms (no normalisation, no centring),
                     exactly k steps, no residual stop, least-squares refit on the support
        new base row ← c_t @ E_b[S_t]      (the anchors' base rows; D_b may differ from D_d)

The coefficients are signed and unconstrained. mplib runs the pursuit through
:func:`mplib.pursuit.sparse_encode` (``algorithm="omp"``, raw selection, no tolerance), whose
supports equal mergekit's ``batch_omp`` on generic data. Where mergekit keeps going after a
dependent atom (its Gram–Schmidt divides by a diagonal clamped at 1e-8, and the coefficients
blow up), sparse_encode stops that target cleanly; with ``strict=True`` (mergekit's setting),
``k >= D_d`` — where every target reaches a zero residual — is refused.

Labelled variants (ours): ``center=True`` subtracts the donor anchor mean from targets and atoms
and adds the base anchor mean back, so the base's common component enters every new row with
coefficient exactly 1; ``normalize_selection=True`` selects by ``|⟨r, a⟩| / ‖a‖``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from mplib.pursuit import sparse_encode
from mplib.pursuit._omp_gram_run import compiled
from mplib.repro import torch_generator
from mplib.transplant import _baselines as bl

__all__ = ["METHODS", "Approximation", "approximate_rows"]

#: Methods of :func:`approximate_rows`. mergekit's: omp, zero, mean, randn, john_hewitt,
#: common_interpolation, landmark_pca_as_released. Ours: mean_anchors, knn_softmax, linear,
#: procrustes, landmark_pca (corrected), focus_like.
METHODS = ("omp", "zero", "mean", "mean_anchors", "randn", "john_hewitt", "knn_softmax",
           "common_interpolation", "linear", "procrustes", "landmark_pca",
           "landmark_pca_as_released", "focus_like")
KNN_METRICS = ("euclidean", "cosine")
WEIGHT_SCHEMES = ("distance_proportional", "barycentric", "least_squares")

# The Gram regime forms G = A Aᵀ once: at most this many bytes (17,078 anchors in fp64: 2.3 GB).
_GRAM_BYTES = 3 * 2**30


class Approximation(NamedTuple):
    """Result of :func:`approximate_rows` (numpy arrays or tensors, like ``targets``)."""

    rows: Any
    """New base-space rows (n_targets, D_b)."""
    indices: Any
    """Anchor positions (rows of ``donor_anchors``) per target (n_targets, m), int64, for the
    methods that combine anchors (omp, knn_softmax, common_interpolation, focus_like); padded
    with position 0 and coefficient 0. None otherwise."""
    coefs: Any
    """Coefficients matching ``indices`` (n_targets, m): ``rows = Σ coefs · base anchor rows``
    (for ``center=True``, of the centred base anchors, plus the base anchor mean). None
    otherwise."""
    n_iter: Any = None
    """OMP only: atoms selected per target (n_targets,) int64 (k unless a target stopped on a
    dependent atom or a zero residual)."""


def _tensor(x: Any, name: str) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        t, was_numpy = x.detach(), False
    else:
        try:
            arr = np.asarray(x)
        except Exception as err:  # ragged lists and the like
            raise TypeError(f"{name} must be an array or tensor, got {type(x).__name__}") from err
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                       or arr.dtype == bool):
            raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
        t, was_numpy = torch.from_numpy(np.array(arr, copy=True)), True
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, features), got shape {tuple(t.shape)}")
    return t, was_numpy


def _work_dtype(*ts: torch.Tensor) -> torch.dtype:
    """float64 when any input is float64 or an integer (house rule), else float32."""
    for t in ts:
        if t.dtype == torch.float64 or not (t.is_floating_point() or t.is_complex()):
            return torch.float64
    return torch.float32


def _check_int(value: Any, name: str, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


def _omp_regime(n_targets: int, n_atoms: int, k: int, like: torch.Tensor) -> str:
    """Gram regime (G once, one call for every target) when G fits and the targets amortise it."""
    big = n_atoms * n_atoms * like.element_size() > _GRAM_BYTES
    if compiled(like) and not big and n_targets * k >= n_atoms:
        return "gram"
    return "residual"


def _omp(T, A, Bm, *, k, normalize, batch_size):
    regime = _omp_regime(T.shape[0], A.shape[0], k, T)
    step = T.shape[0] if regime == "gram" else batch_size
    inds, vals, iters = [], [], []
    for lo in range(0, T.shape[0], step):
        # k > D_d only without strict: no more than D_d independent atoms exist
        res = sparse_encode(T[lo:lo + step], A, algorithm="omp",
                            n_nonzero_coefs=min(k, A.shape[1]),
                            normalize=normalize, regime=regime, return_sparse=True)
        idx, val = res.indices, res.values
        if idx.shape[1] < k:  # every target of the call stopped early: pad to k slots
            pad = k - idx.shape[1]
            idx = torch.nn.functional.pad(idx, (0, pad))
            val = torch.nn.functional.pad(val, (0, pad))
        inds.append(idx)
        vals.append(val)
        iters.append(res.n_iter)
    idx, val = torch.cat(inds), torch.cat(vals)
    rows = torch.cat([bl._combine(val[s], idx[s], Bm)
                      for s in bl._batches(T.shape[0], batch_size)])
    return rows, idx, val, torch.cat(iters)


def approximate_rows(targets: Any, donor_anchors: Any, base_anchors: Any, *,
                     method: str = "omp", k: int = 64, center: bool = False,
                     normalize_selection: bool = False, strict: bool = True,
                     batch_size: int = 512, seed: Any = None, base_matrix: Any = None,
                     knn_k: int = 32, temperature: float = 0.1, knn_metric: str = "euclidean",
                     weight_scheme: str = "distance_proportional", affine: bool = True,
                     similarity: tuple | None = None) -> Approximation:
    """Approximate base-space rows of new tokens from their donor rows and the anchors.

    Parameters
    ----------
    targets : ndarray or Tensor of shape (n_targets, D_d)
        Donor rows of the new tokens.
    donor_anchors : ndarray or Tensor of shape (N, D_d)
        Donor rows of the anchors (the pursuit's atoms, one per row).
    base_anchors : ndarray or Tensor of shape (N, D_b)
        Base rows of the same anchors, in the same order.
    method : str, default="omp"
        One of :data:`METHODS`: ``"omp"`` (the method), ``"zero"``, ``"mean"`` (all rows of
        ``base_matrix``, mergekit's meaning), ``"mean_anchors"``, ``"randn"`` (sanity),
        ``"john_hewitt"`` (N(μ, Σ) of ``base_matrix``), ``"knn_softmax"`` (cosine, softmax of
        cos/``temperature`` over ``knn_k`` neighbours), ``"common_interpolation"`` (mergekit's,
        ``k`` neighbours), ``"linear"`` (least squares map), ``"procrustes"`` (scaled orthogonal
        map), ``"landmark_pca"`` (corrected), ``"landmark_pca_as_released"`` (mergekit's
        transpose, an ablation), ``"focus_like"`` (sparsemax over cosines).
    k : int, default=64
        OMP: pursuit steps (atoms per token); common_interpolation: neighbours.
    center : bool, default=False
        OMP: centred OMP (our labelled variant, see the module docstring).
    normalize_selection : bool, default=False
        OMP: select by ``|⟨r, a⟩| / ‖a‖`` (an ablation).
    strict : bool, default=True
        OMP: refuse ``k >= D_d`` (mergekit mode). With False, targets stop cleanly once the
        atoms become dependent.
    batch_size : int, default=512
        Targets per batch (bounds memory; the rows do not depend on it). OMP runs all targets in
        one Gram-regime call when ``G = A Aᵀ`` fits in memory and the targets amortise it.
    seed : int or torch.Generator, optional
        Needed by ``"randn"``, ``"john_hewitt"`` and ``"focus_like"`` (its fallback rows).
    base_matrix : ndarray or Tensor of shape (V_b, D_b), optional
        All base rows; needed by ``"mean"`` and ``"john_hewitt"``.
    knn_k : int, default=32
        Neighbours of ``"knn_softmax"``.
    temperature : float, default=0.1
        Softmax temperature of ``"knn_softmax"``.
    knn_metric : {"euclidean", "cosine"}, default="euclidean"
        Distance of ``"common_interpolation"``.
    weight_scheme : {"distance_proportional", "barycentric", "least_squares"}
        Weights of ``"common_interpolation"`` (default ``"distance_proportional"``).
    affine : bool, default=True
        ``"linear"``: fit a bias too.
    similarity : tuple (target_vectors, anchor_vectors), optional
        ``"focus_like"``: the similarity space (rows matching ``targets`` and the anchors);
        default the donor rows themselves. A zero target vector means "no vector".

    Returns
    -------
    Approximation
        ``rows`` in float64 when any input is float64 or integer, else float32.

    Raises
    ------
    ValueError
        Mismatched shapes or row counts, non-finite entries, an unknown ``method`` or option,
        ``k <= 0``, ``k > N``, ``k >= D_d`` with ``strict``, a missing ``base_matrix`` or
        ``seed``.
    TypeError
        Non-numeric input or options of the wrong type.

    Notes
    -----
    Goddard & Fernandes Neto, "Training-Free Tokenizer Transplantation via Orthogonal Matching
    Pursuit", arXiv 2506.06607, 2025. OMP: Pati, Rezaiifar & Krishnaprasad, 1993.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.eye(3)                          # donor rows of three anchors
    >>> B = 2 * np.eye(3)                      # their base rows
    >>> approximate_rows(np.array([[1.0, 1.0, 0.0]]), A, B, k=2).rows
    array([[2., 2., 0.]])
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    T, was_numpy = _tensor(targets, "targets")
    A, _ = _tensor(donor_anchors, "donor_anchors")
    Bm, _ = _tensor(base_anchors, "base_anchors")
    if A.shape[0] != Bm.shape[0]:
        raise ValueError(f"donor_anchors and base_anchors must have the same number of rows "
                         f"(one per anchor), got {A.shape[0]} and {Bm.shape[0]}")
    if A.shape[0] == 0:
        raise ValueError("donor_anchors must hold at least one anchor row, got 0")
    if T.shape[1] != A.shape[1]:
        raise ValueError(f"targets and donor_anchors must have the same width D_d, got "
                         f"{T.shape[1]} and {A.shape[1]}")
    full = None
    if base_matrix is not None:
        full, _ = _tensor(base_matrix, "base_matrix")
        if full.shape[1] != Bm.shape[1]:
            raise ValueError(f"base_matrix must have the width of base_anchors "
                             f"({Bm.shape[1]}), got {full.shape[1]}")
    sims = None
    if similarity is not None:
        if not isinstance(similarity, (tuple, list)) or len(similarity) != 2:
            raise TypeError("similarity must be a pair (target_vectors, anchor_vectors)")
        sims = (_tensor(similarity[0], "similarity[0]")[0],
                _tensor(similarity[1], "similarity[1]")[0])
        if sims[0].shape[0] != T.shape[0] or sims[1].shape[0] != A.shape[0] \
                or sims[0].shape[1] != sims[1].shape[1]:
            raise ValueError("similarity vectors must have one row per target and per anchor "
                             f"and one width, got shapes {tuple(sims[0].shape)} and "
                             f"{tuple(sims[1].shape)}")
    batch_size = _check_int(batch_size, "batch_size")
    k = _check_int(k, "k")
    knn_k = _check_int(knn_k, "knn_k")
    for name, flag in (("center", center), ("normalize_selection", normalize_selection),
                       ("strict", strict), ("affine", affine)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if knn_metric not in KNN_METRICS:
        raise ValueError(f"knn_metric must be one of {KNN_METRICS}, got {knn_metric!r}")
    if weight_scheme not in WEIGHT_SCHEMES:
        raise ValueError(f"weight_scheme must be one of {WEIGHT_SCHEMES}, got "
                         f"{weight_scheme!r}")
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    n_anchors, d_donor = A.shape
    if method in ("omp", "common_interpolation") and k > n_anchors:
        raise ValueError(f"k must be at most the number of anchors ({n_anchors}), got {k}")
    if method == "omp" and strict and k >= d_donor:
        raise ValueError(f"k must be below the donor width D_d = {d_donor} in mergekit mode "
                         f"(strict=True: beyond it the residual is already zero and mergekit's "
                         f"coefficients blow up), got k = {k}; pass strict=False to stop cleanly")
    if method == "knn_softmax" and knn_k > n_anchors:
        raise ValueError(f"knn_k must be at most the number of anchors ({n_anchors}), got "
                         f"{knn_k}")
    if method in ("mean", "john_hewitt") and full is None:
        raise ValueError(f"method={method!r} needs base_matrix (all base rows), got None")
    if method in ("randn", "john_hewitt", "focus_like") and seed is None:
        raise ValueError(f"method={method!r} is random: pass seed (an int), got None")

    dt = _work_dtype(T, A, Bm)
    T, A, Bm = T.to(dt), A.to(dt), Bm.to(dt)
    for name, t in (("targets", T), ("donor_anchors", A), ("base_anchors", Bm)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite (no NaN or inf)")
    n, d_base = T.shape[0], Bm.shape[1]
    idx = coefs = n_iter = None
    with torch.no_grad():
        if n == 0:
            rows = Bm.new_zeros(0, d_base)
            if method in ("omp", "knn_softmax", "common_interpolation", "focus_like"):
                width = {"omp": k, "knn_softmax": knn_k, "common_interpolation": k}.get(method, 0)
                idx = torch.zeros(0, width, dtype=torch.long)
                coefs = Bm.new_zeros(0, width)
                n_iter = torch.zeros(0, dtype=torch.long) if method == "omp" else None
        elif method == "omp":
            if center:
                mu_d, mu_b = A.mean(0), Bm.mean(0)
                rows, idx, coefs, n_iter = _omp(T - mu_d, A - mu_d, Bm - mu_b, k=k,
                                                normalize=normalize_selection,
                                                batch_size=batch_size)
                rows = rows + mu_b
            else:
                rows, idx, coefs, n_iter = _omp(T, A, Bm, k=k, normalize=normalize_selection,
                                                batch_size=batch_size)
        elif method == "zero":
            rows = Bm.new_zeros(n, d_base)
        elif method == "mean":
            rows = full.to(dt).mean(0).expand(n, d_base).clone()
        elif method == "mean_anchors":
            rows = Bm.mean(0).expand(n, d_base).clone()
        elif method == "randn":
            rows = torch.randn(n, d_base, generator=torch_generator(seed), dtype=dt)
        elif method == "john_hewitt":
            rows = bl.john_hewitt(n, full.to(dt), generator=torch_generator(seed))
        elif method == "knn_softmax":
            rows, idx, coefs = bl.knn_softmax(T, A, Bm, k=knn_k, temperature=float(temperature),
                                              batch_size=batch_size)
        elif method == "common_interpolation":
            rows, idx, coefs = bl.common_interpolation(T, A, Bm, k=k, metric=knn_metric,
                                                       weight_scheme=weight_scheme,
                                                       batch_size=batch_size)
        elif method == "linear":
            rows = bl.linear_map(T, A, Bm, affine=affine)
        elif method == "procrustes":
            rows = bl.procrustes(T, A, Bm)
        elif method in ("landmark_pca", "landmark_pca_as_released"):
            rows = bl.landmark_pca(T, A, Bm, as_released=method.endswith("as_released"))
        else:  # focus_like
            s_t, s_a = (T, A) if sims is None else (sims[0].to(dt), sims[1].to(dt))
            rows, idx, coefs = bl.focus_like(s_t, s_a, Bm, batch_size=batch_size,
                                             generator=torch_generator(seed))
    out = [rows, idx, coefs, n_iter]
    if was_numpy:
        out = [None if x is None else x.numpy() for x in out]
    return Approximation(*out)
