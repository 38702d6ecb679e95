"""scikit-learn's ``orthogonal_mp`` and ``orthogonal_mp_gram``, on the batched Gram kernel.

Every target runs at once in :func:`mplib.pursuit._omp_gram.omp_gram` instead of one Python
loop iteration per target. Orientation is scikit-learn's: ``X`` (n_samples, n_features) holds
the atoms as **columns**, ``y`` (n_samples,) or (n_samples, n_targets).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch

from mplib.pursuit._common import PREMATURE
from mplib.pursuit._omp_gram import omp_gram
from mplib.pursuit._validation import default_n_nonzero_coefs

__all__ = ["PREMATURE", "InvalidParameterError", "orthogonal_mp", "orthogonal_mp_gram"]



class InvalidParameterError(ValueError, TypeError):
    """A parameter has the wrong type or value (a ValueError and a TypeError, as sklearn's)."""


def check_bool(value: Any, name: str, func: str) -> bool:
    """Return ``value`` if it is a boolean, else raise :class:`InvalidParameterError`."""
    if not isinstance(value, bool | np.bool_):
        raise InvalidParameterError(
            f"The {name!r} parameter of {func} must be an instance of 'bool'. Got {value!r}."
        )
    return bool(value)


def check_budget(value: Any, name: str, func: str) -> int | None:
    """Return a positive int budget (or None), else raise :class:`InvalidParameterError`."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, Integral) or value < 1:
        raise InvalidParameterError(
            f"The {name!r} parameter of {func} must be an int in the range [1, inf) or None. "
            f"Got {value!r} instead."
        )
    return int(value)


def check_tol(value: Any, func: str) -> float | None:
    """Return a non-negative float tolerance (or None), else raise."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, Real) or not value >= 0:
        raise InvalidParameterError(
            f"The 'tol' parameter of {func} must be a float in the range [0, inf) or None. "
            f"Got {value!r} instead."
        )
    return float(value)


def as_float_array(a: Any, name: str, *, ndim: tuple[int, ...] = (2,)) -> np.ndarray:
    """Array of float32/float64 (others promote to float64), finite, with an allowed ndim."""
    if a is None or isinstance(a, str | bytes):
        raise InvalidParameterError(f"{name} must be an array-like, got {type(a).__name__}")
    if hasattr(a, "toarray") or hasattr(a, "tocsr"):
        raise TypeError(f"{name} must be dense: sparse input is not supported, got {type(a)}")
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be {want}, got an array of shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def _tensor(a: np.ndarray) -> torch.Tensor:
    # torch.from_numpy shares memory and warns on read-only arrays; the kernel never writes
    # to its inputs, but a private copy of a read-only array keeps the warning away.
    return torch.from_numpy(np.ascontiguousarray(a) if a.flags.writeable else np.array(a))


def solve_gram(
    gram: np.ndarray,
    xy: np.ndarray,
    n_nonzero_coefs: int | None,
    tol: float | None,
    norms_squared: np.ndarray | None,
    return_path: bool,
) -> tuple[np.ndarray, np.ndarray | None, list[int]]:
    """Run every target; returns coef (N, T), path (N, T, n_steps) or None, n_iter per target.

    Warns once (:data:`PREMATURE`) when some target stopped early, or used every atom
    without reaching ``tol`` (as scikit-learn's Gram path does).
    """
    n_atoms, n_targets = xy.shape
    budget = n_atoms if tol is not None else n_nonzero_coefs
    G = _tensor(gram)
    out = omp_gram(
        G,
        _tensor(xy.T).to(G.dtype),
        n_nonzero_coefs=torch.full((n_targets,), budget, dtype=torch.long),
        tol=None if tol is None else torch.full((n_targets,), tol, dtype=G.dtype),
        norms_squared=None if tol is None else _tensor(norms_squared).to(G.dtype),
        return_path=return_path,
    )
    unmet = False
    if tol is not None:  # all atoms used, tol still out of reach: scikit-learn's Gram path warns
        unmet = bool(((out.n_iter == n_atoms) & (out.residual_energy.abs() > tol)).any())
    if out.early_stop or unmet:
        warnings.warn(PREMATURE, RuntimeWarning, stacklevel=3)
    coef = out.coef.numpy().T
    path = None if out.path is None else out.path.numpy().transpose(2, 1, 0)
    return coef, path, [int(n) for n in out.n_iter]


def _finish(coef, path, n_iter, n_targets, return_path, return_n_iter):
    res = np.squeeze(path if return_path else coef)
    if not return_n_iter:
        return res
    return res, (n_iter[0] if n_targets == 1 else n_iter)


def orthogonal_mp_gram(
    Gram,
    Xy,
    *,
    n_nonzero_coefs=None,
    tol=None,
    norms_squared=None,
    copy_Gram=True,
    copy_Xy=True,
    return_path=False,
    return_n_iter=False,
):
    """Solve orthogonal matching pursuit problems from the Gram matrix and ``Xᵀy`` only.

    Drop-in for :func:`sklearn.linear_model.orthogonal_mp_gram`, all targets batched.

    Parameters
    ----------
    Gram : array-like of shape (n_features, n_features)
        Gram matrix ``Xᵀ X`` of the dictionary (atoms as columns of ``X``).
    Xy : array-like of shape (n_features,) or (n_features, n_targets)
        ``Xᵀ y``.
    n_nonzero_coefs : int, default=None
        Maximum number of non-zero entries per target. None means
        ``max(int(0.1 * n_features), 1)`` (scikit-learn has no ``max(·, 1)`` here and raises
        for fewer than 10 features; we use ``orthogonal_mp``'s default in both functions).
    tol : float, default=None
        Maximum squared norm of the residual; overrides ``n_nonzero_coefs``.
    norms_squared : array-like of shape (n_targets,), default=None
        Squared norms of the targets, required with ``tol``.
    copy_Gram, copy_Xy : bool, default=True
        Accepted for compatibility: the inputs are never modified (read-only arrays work).
    return_path : bool, default=False
        Return the coefficients after every step instead of the final ones.
    return_n_iter : bool, default=False
        Also return the number of active atoms.

    Returns
    -------
    coef : ndarray of shape (n_features,) or (n_features, n_targets)
        Coefficients, dtype of ``Gram`` (float32 stays float32). With ``return_path``, shape
        (n_features, n_targets, n_steps), squeezed; ``n_steps`` is the largest number of
        steps over the targets and a target that stopped earlier repeats its final solution
        (scikit-learn leaves zeros or fails there).
    n_iters : int or list of int
        Active atoms per target; only with ``return_n_iter``.

    Warns
    -----
    RuntimeWarning
        Once per call when a target stopped early (negligible correlation or a linearly
        dependent atom), with scikit-learn's text.

    Notes
    -----
    Rubinstein, Zibulevsky & Elad, "Efficient implementation of the K-SVD algorithm using
    batch orthogonal matching pursuit", Technion CS report, 2008.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.eye(4)
    >>> orthogonal_mp_gram(X.T @ X, X.T @ np.array([0.0, 3.0, 0.0, -1.0]), n_nonzero_coefs=1)
    array([0., 3., 0., 0.])
    """
    func = "orthogonal_mp_gram"
    n_nonzero_coefs = check_budget(n_nonzero_coefs, "n_nonzero_coefs", func)
    tol = check_tol(tol, func)
    for name, flag in (("copy_Gram", copy_Gram), ("copy_Xy", copy_Xy)):
        check_bool(flag, name, func)
    return_path = check_bool(return_path, "return_path", func)
    return_n_iter = check_bool(return_n_iter, "return_n_iter", func)
    gram = as_float_array(Gram, "Gram")
    xy = as_float_array(Xy, "Xy", ndim=(1, 2))
    if gram.shape[0] != gram.shape[1]:
        raise ValueError(f"Gram must be square (n_features, n_features), got {gram.shape}")
    if xy.shape[0] != gram.shape[0]:
        raise ValueError(
            f"Xy must have {gram.shape[0]} rows (one per column of X), got shape {xy.shape}"
        )
    xy = xy.reshape(len(xy), -1)
    n_atoms, n_targets = xy.shape
    norms = None
    if tol is not None:
        if norms_squared is None:
            raise ValueError(
                "Gram OMP needs the precomputed norms in order to evaluate the error sum of "
                "squares: pass norms_squared with tol."
            )
        norms = as_float_array(norms_squared, "norms_squared", ndim=(0, 1)).reshape(-1)
        if norms.shape != (n_targets,):
            raise ValueError(
                f"norms_squared must hold one value per target ({n_targets}), got shape "
                f"{norms.shape}"
            )
    elif n_nonzero_coefs is None:
        n_nonzero_coefs = default_n_nonzero_coefs(n_atoms)
    if tol is None and n_nonzero_coefs > n_atoms:
        raise ValueError(
            f"n_nonzero_coefs must be at most the number of atoms (columns of X), "
            f"{n_atoms}; got {n_nonzero_coefs}"
        )
    coef, path, n_iter = solve_gram(gram, xy, n_nonzero_coefs, tol, norms, return_path)
    return _finish(coef, path, n_iter, n_targets, return_path, return_n_iter)


def orthogonal_mp(
    X,
    y,
    *,
    n_nonzero_coefs=None,
    tol=None,
    precompute=False,
    copy_X=True,
    return_path=False,
    return_n_iter=False,
):
    r"""Solve orthogonal matching pursuit problems, one per column of ``y``.

    Drop-in for :func:`sklearn.linear_model.orthogonal_mp`: for every target,
    ``argmin ‖y − Xw‖²`` subject to ``‖w‖₀ <= n_nonzero_coefs`` (or ``‖w‖₀`` minimal subject
    to ``‖y − Xw‖² <= tol``), greedily. All targets run at once on the Gram-space kernel
    whatever ``precompute`` says (scikit-learn's results do not depend on it).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Dictionary, atoms as columns (documented as unit-norm; any norms work).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets.
    n_nonzero_coefs : int, default=None
        Maximum non-zero entries per target; None means ``max(int(0.1 * n_features), 1)``.
    tol : float, default=None
        Maximum squared norm of the residual; overrides ``n_nonzero_coefs``.
    precompute : bool or "auto", default=False
        Only decides the output dtype, as in scikit-learn: the Gram path (True, or "auto"
        with ``n_samples > n_features``) keeps float32 input in float32, the other returns
        float64.
    copy_X : bool, default=True
        Accepted for compatibility: ``X`` is never modified.
    return_path : bool, default=False
        Return the coefficients after every step (see :func:`orthogonal_mp_gram`).
    return_n_iter : bool, default=False
        Also return the number of active atoms.

    Returns
    -------
    coef : ndarray of shape (n_features,) or (n_features, n_targets)
        Coefficients (with ``return_path``: (n_features, n_targets, n_steps), squeezed).
    n_iters : int or list of int
        Active atoms per target; only with ``return_n_iter``.

    Warns
    -----
    RuntimeWarning
        Once per call when a target stopped early, with scikit-learn's text.

    Notes
    -----
    Pati, Rezaiifar & Krishnaprasad, "Orthogonal matching pursuit", Asilomar 1993; the
    Gram-space scheme of Rubinstein, Zibulevsky & Elad (Technion CS report, 2008).

    Examples
    --------
    >>> import numpy as np
    >>> orthogonal_mp(np.eye(3), np.array([1.0, -4.0, 2.0]), n_nonzero_coefs=2)
    array([ 0., -4.,  2.])
    """
    func = "orthogonal_mp"
    n_nonzero_coefs = check_budget(n_nonzero_coefs, "n_nonzero_coefs", func)
    tol = check_tol(tol, func)
    if not (isinstance(precompute, bool | np.bool_) or precompute == "auto"):
        raise InvalidParameterError(
            f"The 'precompute' parameter of {func} must be a bool or 'auto'. Got {precompute!r}."
        )
    check_bool(copy_X, "copy_X", func)
    return_path = check_bool(return_path, "return_path", func)
    return_n_iter = check_bool(return_n_iter, "return_n_iter", func)
    Xa = as_float_array(X, "X")
    ya = as_float_array(y, "y", ndim=(1, 2))
    if ya.shape[0] != Xa.shape[0]:
        raise ValueError(
            f"X and y must have the same number of samples, got X {Xa.shape} and y {ya.shape}"
        )
    ya = ya.reshape(len(ya), -1).astype(Xa.dtype, copy=False)
    n_atoms, n_targets = Xa.shape[1], ya.shape[1]
    if n_nonzero_coefs is None and tol is None:
        n_nonzero_coefs = default_n_nonzero_coefs(n_atoms)
    if tol is None and n_nonzero_coefs > n_atoms:
        raise ValueError(
            f"n_nonzero_coefs must be at most the number of atoms (columns of X), "
            f"{n_atoms}; got {n_nonzero_coefs}"
        )
    gram_path = bool(precompute) if precompute != "auto" else Xa.shape[0] > Xa.shape[1]
    norms = (ya**2).sum(0) if tol is not None else None
    coef, path, n_iter = solve_gram(Xa.T @ Xa, Xa.T @ ya, n_nonzero_coefs, tol, norms, return_path)
    if not gram_path:
        coef = coef.astype(np.float64, copy=False)
        path = None if path is None else path.astype(np.float64, copy=False)
    return _finish(coef, path, n_iter, n_targets, return_path, return_n_iter)
