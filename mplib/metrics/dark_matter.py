"""SAE "dark matter": linear and nonlinear parts of the reconstruction error.

Engels, Riggs & Tegmark, *Decomposing The Dark Matter of Sparse Autoencoders* (arXiv
2410.14670, 2024; TMLR 2025), Sec. 3. With activations ``x`` (tokens as rows), an SAE
reconstruction ``x̂ = Sae(x)`` and its error ``e = x − x̂``:

* the **linear error** is ``x a``, where ``a`` (d × d) solves ordinary least squares from
  ``X`` to ``E`` **without an intercept** on a seeded subset of the tokens and is then applied
  to every token (:func:`fit_error_map`, :func:`decompose_error`);
* the **nonlinear error** is ``e − x a``, so ``x = Sae(x) + LinearError + NonlinearError``
  holds exactly;
* **norm prediction** is the same regression with the squared error norm ``‖e‖²`` as target.

Three R² notions are kept apart, by name:

================= ===============================================================================
:func:`r2_per_dim`  per output dimension ``1 − Σ(y − ŷ)² / Σ(y − ȳ)²`` (``ȳ`` the evaluation
                    mean), then the **unweighted** mean over dimensions (the paper's
                    ``calculate_r_squared``; scikit-learn's ``multioutput="uniform_average"``)
:func:`fvu`         ``Σ‖x − x̂‖² / Σ‖x − x̄‖²``, ``x̄`` per dimension: 1 − the variance-weighted R²
:func:`r2_pooled`   ``1 − Σ(x − x̂)² / Σ(x − m)²`` with ``m`` the scalar mean of all entries
                    (the paper's noise simulation, Fig. 15)
================= ===============================================================================

Every regression is solved in float64 on the CPU from Gram matrices accumulated in float64
(normal equations by Cholesky, with a least-squares SVD solve when the Gram matrix is singular),
so the result does not depend on the device or on a LAPACK driver's ``rcond`` handling.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg
import scipy.optimize
import torch

from mplib.metrics._validation import as_tensor, check_positive_int, chunk_rows
from mplib.metrics.reconstruction import fvu, nmse, r2_score
from mplib.repro import numpy_generator

__all__ = [
    "FEW_TOKENS_WARNING",
    "ErrorMapFit",
    "ErrorParts",
    "PerTokenScaling",
    "PowerLaw",
    "decompose_error",
    "fit_error_map",
    "fit_power_law",
    "fvu",
    "normalized_mse",
    "per_token_scaling",
    "r2_per_dim",
    "r2_pooled",
]

#: Tokens per regressed dimension below which a fit warns (the paper used ≈ 42).
TOKENS_PER_FEATURE = 20
#: The warning text (one warning per call); ``{n}``, ``{p}``, ``{need}`` are filled in.
FEW_TOKENS_WARNING = ("regression fitted on {n} tokens for {p} predictors: fewer than "
                      "20 tokens per predictor ({need}); the fit over-fits and held-out R² "
                      "drops")


def _float64(Y: Any, name: str) -> np.ndarray:
    """Any array or tensor as a finite float64 numpy array (a copy only when needed)."""
    return as_tensor(Y, name, min_ndim=1).cpu().numpy()


def _as_2d(Y: np.ndarray) -> np.ndarray:
    return Y[:, None] if Y.ndim == 1 else Y


def r2_per_dim(Y: Any, Y_hat: Any) -> float:
    """R² per output dimension, averaged with equal weights (the paper's vector R²).

    ``R²_j = 1 − Σ_t (y_tj − ŷ_tj)² / Σ_t (y_tj − ȳ_j)²`` with ``ȳ_j`` the mean of dimension
    ``j`` over the same (evaluation) tokens, then ``mean_j R²_j``: low-variance dimensions count
    as much as high-variance ones. For a 1-D target it is the usual R².

    Parameters
    ----------
    Y : array_like or Tensor of shape (n_samples,) or (n_samples, n_outputs)
        Targets.
    Y_hat : array_like or Tensor, same shape
        Predictions.

    Returns
    -------
    float
        Equal to ``sklearn.metrics.r2_score(Y, Y_hat, multioutput="uniform_average")``; as
        there, a constant dimension scores 1 when predicted exactly and 0 otherwise.

    Examples
    --------
    >>> Y = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    >>> r2_per_dim(Y, Y + [[0.0, 0.0], [0.0, 0.0], [0.0, 10.0]])  # (1 + 0.5) / 2
    0.75
    """
    y, yh = _float64(Y, "Y"), _float64(Y_hat, "Y_hat")
    if y.shape != yh.shape:
        raise ValueError(f"Y and Y_hat must have the same shape, got {y.shape} and {yh.shape}")
    y, yh = _as_2d(y), _as_2d(yh)
    sse = np.zeros(y.shape[1])
    s1 = np.zeros(y.shape[1])
    step = chunk_rows(len(y), y.shape[1])
    for s in range(0, len(y), step):
        sse += ((y[s:s + step] - yh[s:s + step]) ** 2).sum(0)
        s1 += y[s:s + step].sum(0)
    mean = s1 / len(y)
    sst = np.zeros(y.shape[1])
    for s in range(0, len(y), step):
        sst += ((y[s:s + step] - mean) ** 2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_dim = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0),
                           np.where(sse == 0, 1.0, 0.0))
    return float(per_dim.mean())


def r2_pooled(X: Any, X_hat: Any) -> float:
    """Pooled R², ``1 − Σ(x − x̂)² / Σ(x − m)²`` with ``m`` the scalar mean of all entries.

    The R² of the paper's noise simulation (Fig. 15), where "FVU" means ``1 − r2_pooled``.
    Same as :func:`mplib.metrics.r2_score` with ``mean="global"``.

    Parameters
    ----------
    X, X_hat : array_like or Tensor of shape (n_samples, n_features)

    Returns
    -------
    float

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [3.0, 6.0]])
    >>> r2_pooled(X, np.full_like(X, X.mean()))
    0.0
    """
    return r2_score(X, X_hat, mean="global")


def normalized_mse(X: Any, X_hat: Any) -> float:
    """Normalised MSE, ``mean_t ‖x_t − x̂_t‖² / ‖x_t‖²`` (per token, uncentred).

    The "MSE" variant of the paper's scaling plot; :func:`mplib.metrics.nmse` with
    ``reduction="mean_ratio"``.

    Parameters
    ----------
    X, X_hat : array_like or Tensor of shape (n_samples, n_features)

    Returns
    -------
    float

    Examples
    --------
    >>> normalized_mse(np.array([[3.0, 4.0], [1.0, 0.0]]), np.array([[3.0, 4.0], [0.0, 0.0]]))
    0.5
    """
    return nmse(X, X_hat, reduction="mean_ratio")


def _gram(X: np.ndarray, Y: np.ndarray, rows: np.ndarray, intercept: bool):
    """``[X 1]ᵀ[X 1]`` and ``[X 1]ᵀY`` over ``rows``, accumulated in float64 chunks."""
    p = X.shape[1] + intercept
    G, B = np.zeros((p, p)), np.zeros((p, Y.shape[1]))
    step = chunk_rows(len(rows), p + Y.shape[1])
    for s in range(0, len(rows), step):
        idx = rows[s:s + step]
        x = X[idx].astype(np.float64)
        if intercept:
            x = np.hstack([x, np.ones((len(idx), 1))])
        G += x.T @ x
        B += x.T @ Y[idx].astype(np.float64)
    return G, B


def _solve(G: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve ``G w = B`` for a symmetric PSD ``G``: scaled Cholesky, else an SVD solve."""
    scale = np.sqrt(np.diag(G))
    scale[scale == 0] = 1.0
    Gs = G / scale[:, None] / scale[None, :]
    try:
        factor = scipy.linalg.cho_factor(Gs, check_finite=False)
        w = scipy.linalg.cho_solve(factor, B / scale[:, None], check_finite=False)
        diag = np.abs(np.diag(factor[0]))
        # (max/min of the factor's diagonal)² bounds cond(Gs) from below: near-singular
        # systems go to the SVD solve
        if np.isfinite(w).all() and (diag.max() / diag.min()) ** 2 < 1e12:
            return w / scale[:, None]
    except np.linalg.LinAlgError:
        pass
    # singular (e.g. a constant predictor): minimum-norm solution by the SVD driver
    w = scipy.linalg.lstsq(Gs, B / scale[:, None], lapack_driver="gelsd", check_finite=False)[0]
    return w / scale[:, None]


def _check_xy(X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(Y, torch.Tensor):
        Y = Y.detach().cpu().numpy()
    x, y = np.asarray(X), np.asarray(Y)
    if x.ndim != 2:
        raise ValueError(f"X must have shape (n_tokens, n_features), got {x.shape}")
    if y.ndim not in (1, 2) or len(y) != len(x):
        raise ValueError(
            f"Y must have shape (n_tokens,) or (n_tokens, n_targets) with the n_tokens="
            f"{len(x)} of X, got {y.shape}")
    for name, a in (("X", x), ("Y", y)):
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    return x, y


def _fit(x: np.ndarray, y: np.ndarray, rows: np.ndarray, *, intercept: bool):
    p = x.shape[1] + intercept
    if len(rows) < p:
        raise ValueError(
            f"X: fewer fit tokens ({len(rows)}) than regression features ({p}): the least "
            f"squares problem is under-determined")
    if len(rows) < TOKENS_PER_FEATURE * p:
        warnings.warn(FEW_TOKENS_WARNING.format(n=len(rows), p=p, need=TOKENS_PER_FEATURE * p),
                      RuntimeWarning, stacklevel=3)
    G, B = _gram(x, _as_2d(y), rows, intercept)
    if not (np.isfinite(G).all() and np.isfinite(B).all()):
        raise ValueError("X and Y must be finite (NaN or infinite entries in the fit tokens)")
    w = _solve(G, B)
    coef, b = (w[:-1], w[-1]) if intercept else (w, np.zeros(w.shape[1]))
    if y.ndim == 1:
        return coef[:, 0], float(b[0])
    return coef, b


class ErrorMapFit(NamedTuple):
    """A least-squares map from activations to (a function of) the SAE error."""

    coef: np.ndarray
    """``a``: shape (n_features,) for a scalar target, (n_features, n_targets) otherwise."""
    intercept: np.ndarray | float
    """Constant term (zeros / 0.0 without an intercept)."""
    r2: float
    """Held-out :func:`r2_per_dim` on the evaluation tokens (NaN when there are none)."""
    fit_index: np.ndarray
    """Token rows the map was fitted on."""
    eval_index: np.ndarray
    """Token rows it was scored on (disjoint from ``fit_index``)."""

    def predict(self, X: Any) -> np.ndarray:
        """Return ``X a + b`` in float64, shape (n_tokens,) or (n_tokens, n_targets)."""
        x = _float64(X, "X")
        return x @ self.coef + self.intercept


def fit_error_map(
    X: Any,
    Y: Any,
    *,
    n_fit: int | float | str = 150_000,
    n_eval: int | None = 150_000,
    intercept: bool = False,
    seed: int | np.random.Generator = 0,
) -> ErrorMapFit:
    """Fit ``Y ≈ X a (+ b)`` on a seeded subset of tokens and score it on the next ones.

    The paper's protocol (``run_lstsq``): permute the tokens, fit on the first ``n_fit``
    permuted tokens, evaluate R² (:func:`r2_per_dim`) on the following ``n_eval``. Slicing
    semantics as in the paper: with fewer tokens the fit takes what there is and the
    evaluation set may be smaller or empty.

    Parameters
    ----------
    X : array_like or Tensor of shape (n_tokens, n_features)
        Predictors (activations).
    Y : array_like or Tensor of shape (n_tokens,) or (n_tokens, n_targets)
        Target: the error vectors ``x − Sae(x)``, their squared norms, ...
    n_fit : int, float or "all", default=150_000
        Fit tokens: a count, a fraction of ``n_tokens`` in (0, 1], or ``"all"`` (every token,
        no evaluation).
    n_eval : int or None, default=150_000
        Evaluation tokens after the fit tokens; None takes all the rest.
    intercept : bool, default=False
        Add a constant predictor.
    seed : int or Generator, default=0
        Seeds the permutation.

    Returns
    -------
    ErrorMapFit

    Raises
    ------
    ValueError
        Mismatched shapes, or fewer fit tokens than predictors.

    Warns
    -----
    RuntimeWarning
        Once, when the fit has fewer than 20 tokens per predictor (:data:`FEW_TOKENS_WARNING`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3))
    >>> fit = fit_error_map(X, X @ np.ones((3, 2)), n_fit=200, n_eval=200)
    >>> round(fit.r2, 6), len(fit.fit_index), len(fit.eval_index)
    (1.0, 200, 200)
    """
    x, y = _check_xy(X, Y)
    n = len(x)
    if n_fit == "all":
        n_fit, n_eval = n, 0
    elif isinstance(n_fit, float):
        if not 0 < n_fit <= 1:
            raise ValueError(f"n_fit as a fraction must lie in (0, 1], got {n_fit}")
        n_fit = int(round(n_fit * n))
    else:
        n_fit = check_positive_int(n_fit, "n_fit")
    if n_eval is not None:
        n_eval = check_positive_int(n_eval, "n_eval", minimum=0)
    perm = numpy_generator(seed).permutation(n)
    fit_index = np.sort(perm[:n_fit])
    stop = n if n_eval is None else n_fit + n_eval
    eval_index = np.sort(perm[n_fit:stop])
    coef, b = _fit(x, y, fit_index, intercept=intercept)
    r2 = math.nan
    if len(eval_index) > 1:
        pred = x[eval_index].astype(np.float64) @ coef + b
        r2 = r2_per_dim(y[eval_index], pred)
    return ErrorMapFit(coef, b, r2, fit_index, eval_index)


class ErrorParts(NamedTuple):
    """The SAE error and its two parts, float64, ``error = linear + nonlinear``."""

    error: np.ndarray
    """``e = x − Sae(x)``, shape (n_tokens, d)."""
    linear: np.ndarray
    """``x a (+ b)``: the part a linear map of ``x`` predicts."""
    nonlinear: np.ndarray
    """``e − x a``: the rest (so ``x = Sae(x) + linear + nonlinear``)."""


def decompose_error(X: Any, X_hat: Any, fit: ErrorMapFit | None = None) -> ErrorParts:
    """Split the SAE error into its linear and nonlinear parts.

    Parameters
    ----------
    X : array_like or Tensor of shape (n_tokens, d)
        Activations.
    X_hat : array_like or Tensor of shape (n_tokens, d)
        SAE reconstructions.
    fit : ErrorMapFit, optional
        Map from ``X`` to ``X − X_hat``, applied to **every** token (the paper's practice).
        None fits it on all tokens (``n_fit="all"``).

    Returns
    -------
    ErrorParts

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2))
    >>> parts = decompose_error(X, 0.5 * X)
    >>> bool(np.abs(parts.nonlinear).max() < 1e-12)
    True
    """
    x, xh = _float64(X, "X"), _float64(X_hat, "X_hat")
    if x.ndim != 2 or x.shape != xh.shape:
        raise ValueError(f"X and X_hat must have the same shape (n_tokens, d), got {x.shape} "
                         f"and {xh.shape}")
    error = x - xh
    if fit is None:
        fit = fit_error_map(x, error, n_fit="all")
    if not isinstance(fit, ErrorMapFit):
        raise TypeError(f"fit must be an ErrorMapFit, got {type(fit).__name__}")
    if np.shape(fit.coef) != (x.shape[1], x.shape[1]):
        raise ValueError(f"fit.coef must have shape {(x.shape[1], x.shape[1])} (a map from X "
                         f"to the error), got {np.shape(fit.coef)}")
    linear = fit.predict(x)
    return ErrorParts(error, linear, error - linear)


class PerTokenScaling(NamedTuple):
    """How well one SAE's per-token error norm predicts another's (the paper's Sec. 3.3)."""

    r2: np.ndarray
    """(n_saes, n_saes): held-out R² of ``‖e_j‖ ~ [‖e_i‖, 1]`` at ``[i, j]``."""
    r2_with_nonlinear: np.ndarray
    """(n_saes, n_saes): held-out R² of ``‖e_j‖ ~ [‖e_i‖, ‖n_i‖, 1]``."""
    gain_percent: np.ndarray
    """``(r2_with_nonlinear − r2) / (1 − r2) · 100``: share of the remaining variance explained
    by adding the nonlinear error norm ``‖n_i‖``."""


def per_token_scaling(norms: Any, nonlinear_norms: Any, *, n_fit: float | int = 0.5,
                      seed: int = 0) -> PerTokenScaling:
    """Predict each SAE's per-token error norm from another's, without and with ``‖n_i‖``.

    Parameters
    ----------
    norms : array_like of shape (n_saes, n_tokens)
        ``‖e‖`` (not squared) of each SAE on the same tokens, e.g. widths in increasing order.
    nonlinear_norms : array_like of shape (n_saes, n_tokens)
        ``‖n‖`` of the nonlinear error of each SAE on the same tokens.
    n_fit : float or int, default=0.5
        Fit tokens (fraction or count) of one seeded split shared by every pair; the rest
        are scored.
    seed : int, default=0

    Returns
    -------
    PerTokenScaling

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> hard = rng.gamma(2.0, size=1000)
    >>> norms = np.stack([hard + 0.1 * rng.normal(size=1000) for _ in range(3)])
    >>> res = per_token_scaling(norms, rng.normal(size=(3, 1000)))
    >>> bool(res.r2[0, 2] > 0.9)
    True
    """
    a, nl = _float64(norms, "norms"), _float64(nonlinear_norms, "nonlinear_norms")
    if a.ndim != 2 or a.shape != nl.shape:
        raise ValueError(f"norms and nonlinear_norms must have the same shape (n_saes, "
                         f"n_tokens), got {a.shape} and {nl.shape}")
    m = len(a)
    r2, r2n = np.full((m, m), np.nan), np.full((m, m), np.nan)
    for i in range(m):
        for j in range(m):
            r2[i, j] = fit_error_map(a[i][:, None], a[j], n_fit=n_fit, n_eval=None,
                                     intercept=True, seed=seed).r2
            r2n[i, j] = fit_error_map(np.stack([a[i], nl[i]], 1), a[j], n_fit=n_fit,
                                      n_eval=None, intercept=True, seed=seed).r2
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = (r2n - r2) / (1.0 - r2) * 100.0
    return PerTokenScaling(r2, r2n, gain)


class PowerLaw(NamedTuple):
    """``f(W) = c + a · W^m`` (``m < 0`` for a falling curve), fitted to (width, FVU) points."""

    c: float
    """Asymptote at infinite width (≥ 0)."""
    a: float
    """Scale (≥ 0)."""
    m: float
    """Exponent (≤ 0)."""
    rmse: float
    """Root mean squared residual of the fit on its points."""

    def predict(self, widths: Any) -> np.ndarray:
        """Evaluate ``c + a · W^m``."""
        return self.c + self.a * np.asarray(widths, dtype=np.float64) ** self.m


def fit_power_law(widths: Any, fvu_values: Any, *, m_bounds: tuple[float, float] = (-4.0, 0.0),
                  ) -> PowerLaw:
    """Fit ``FVU(W) = c + a · W^m`` by deterministic bounded least squares.

    For each exponent ``m`` the model is linear in ``(c, a)``, solved by non-negative least
    squares; ``m`` is found by a grid over ``m_bounds`` refined by bounded scalar minimisation
    (variable projection). The paper fits ``|c| + |a|·W^(−|m|)`` by Adam from random starts;
    this gives the same family, deterministically.

    Parameters
    ----------
    widths : array_like of shape (n_points,)
        SAE widths (latents), > 0.
    fvu_values : array_like of shape (n_points,)
        FVU (or any error measure) at each width.
    m_bounds : (float, float), default=(-4.0, 0.0)
        Search interval of the exponent.

    Returns
    -------
    PowerLaw

    Examples
    --------
    >>> W = np.array([128, 256, 512, 1024, 2048])
    >>> law = fit_power_law(W, 0.2 + 3.0 * W ** -0.5)
    >>> round(law.c, 6), round(law.a, 6), round(law.m, 6)
    (0.2, 3.0, -0.5)
    """
    w, f = np.asarray(widths, dtype=np.float64), np.asarray(fvu_values, dtype=np.float64)
    if w.ndim != 1 or w.shape != f.shape:
        raise ValueError(f"widths and fvu_values must be 1-D of the same length, got {w.shape} "
                         f"and {f.shape}")
    if len(w) < 3:
        raise ValueError(f"widths: a three-parameter law needs at least 3 points, got {len(w)}")
    if (w <= 0).any() or not np.isfinite(w).all() or not np.isfinite(f).all():
        raise ValueError("widths must be positive and finite, fvu_values finite")
    ref = math.exp(np.log(w).mean())  # conditioning: fit in W / geometric mean
    u = w / ref

    def project(m: float) -> tuple[float, np.ndarray]:
        A = np.stack([np.ones_like(u), u ** m], 1)
        coef, res = scipy.optimize.nnls(A, f)
        return res, coef

    grid = np.linspace(m_bounds[0], m_bounds[1], 401)
    best = grid[int(np.argmin([project(m)[0] for m in grid]))]
    step = grid[1] - grid[0]
    lo, hi = max(m_bounds[0], best - step), min(m_bounds[1], best + step)
    if hi > lo:
        opt = scipy.optimize.minimize_scalar(lambda m: project(m)[0] ** 2, bounds=(lo, hi),
                                             method="bounded", options={"xatol": 1e-12})
        m = float(opt.x) if project(opt.x)[0] <= project(best)[0] else float(best)
    else:
        m = float(best)
    res, (c, a) = project(m)
    return PowerLaw(float(c), float(a * ref ** (-m)), m, float(res / math.sqrt(len(w))))
