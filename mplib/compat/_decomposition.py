"""scikit-learn's ``sparse_encode`` and sparse-coding estimators with OMP on our kernel.

Orientation is the native one: ``X`` (n_samples, n_features), dictionary (n_components,
n_features) with atoms as rows, codes (n_samples, n_components), ``X ≈ code @ dictionary``.
Algorithms other than ``"omp"`` are delegated to scikit-learn unchanged.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn import decomposition as _dec
from sklearn.utils.validation import check_is_fitted

from mplib.compat._omp import (
    PREMATURE,
    InvalidParameterError,
    _tensor,
    as_float_array,
    check_bool,
    check_budget,
    solve_gram,
)
from mplib.pursuit import _omp_gram_cpu as cpu

__all__ = ["DictionaryLearning", "MiniBatchDictionaryLearning", "SparseCoder", "sparse_encode"]

_ALGORITHMS = ("lasso_lars", "lasso_cd", "lars", "omp", "threshold")


def _omp_codes(X, dictionary, gram, cov, n_nonzero_coefs, name) -> np.ndarray:
    n_components, n_features = dictionary.shape
    if n_nonzero_coefs is None:
        n_nonzero_coefs = int(min(max(n_features / 10, 1), n_components))
    elif n_nonzero_coefs > n_components:
        # scikit-learn crashes inside OMP here (scikit-learn/scikit-learn#33454) while LARS clips.
        raise ValueError(
            f"{name} must be at most the number of dictionary atoms (n_components = "
            f"{n_components}) with algorithm 'omp'; got {n_nonzero_coefs}"
        )
    if gram is None and cov is None and X.dtype in (np.float32, np.float64) and cpu.AVAILABLE:
        # compiled CPU kernel, fused per block of samples: Xᵀ-products, pursuit and codes
        # while in cache, no (n_components × n_samples) cov and no transposed copies
        Xt, Dt = _tensor(X), _tensor(dictionary.astype(X.dtype, copy=False))
        with cpu.one_intra_op_thread() as threads:
            budget = np.full(X.shape[0], n_nonzero_coefs, np.int64)
            enc = cpu.encode(Xt, Dt, cpu.gram(Dt, n_threads=threads), budget, n_threads=threads)
        if enc.early.any():  # as solve_gram: some sample stopped early
            warnings.warn(PREMATURE, RuntimeWarning, stacklevel=3)
        return enc.codes
    gram = dictionary @ dictionary.T if gram is None else as_float_array(gram, "gram")
    cov = dictionary @ X.T if cov is None else as_float_array(cov, "cov")
    if gram.shape != (n_components, n_components):
        raise ValueError(f"gram must have shape {(n_components,) * 2}, got {gram.shape}")
    if cov.shape != (n_components, X.shape[0]):
        raise ValueError(f"cov must have shape {(n_components, X.shape[0])}, got {cov.shape}")
    coef, _, _ = solve_gram(
        gram.astype(X.dtype, copy=False), cov, n_nonzero_coefs, None, None, False
    )
    return coef.T.reshape(X.shape[0], n_components)


def sparse_encode(
    X,
    dictionary,
    *,
    gram=None,
    cov=None,
    algorithm="lasso_lars",
    n_nonzero_coefs=None,
    alpha=None,
    copy_cov=True,
    init=None,
    max_iter=1000,
    n_jobs=None,
    check_input=True,
    verbose=0,
    positive=False,
):
    """Sparse coding: find a sparse ``code`` with ``X ≈ code @ dictionary``.

    Drop-in for :func:`sklearn.decomposition.sparse_encode`. ``algorithm="omp"`` runs every
    sample at once on the batched Gram kernel; the other algorithms call scikit-learn.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data. Integers promote to float64; float32 is preserved.
    dictionary : array-like of shape (n_components, n_features)
        Atoms as rows.
    gram : array-like of shape (n_components, n_components), default=None
        Precomputed ``dictionary @ dictionary.T``.
    cov : array-like of shape (n_components, n_samples), default=None
        Precomputed ``dictionary @ X.T``.
    algorithm : {"lasso_lars", "lasso_cd", "lars", "omp", "threshold"}, default="lasso_lars"
        Coding method.
    n_nonzero_coefs : int, default=None
        Atoms per sample for ``"omp"`` and ``"lars"``; None means
        ``min(max(n_features / 10, 1), n_components)``. With ``"omp"``, more than
        ``n_components`` raises a ``ValueError`` naming this parameter.
    alpha : float, default=None
        Penalty or threshold of the other algorithms. With ``"omp"`` it is ignored, exactly as
        in scikit-learn (documented there as the OMP tolerance, never passed to it); our
        native :func:`mplib.pursuit.sparse_encode` has ``tol``.
    copy_cov, init, max_iter, n_jobs, check_input, verbose : optional
        As in scikit-learn; with ``"omp"`` the samples are batched and ``n_jobs`` is not used.
    positive : bool, default=False
        Non-negative codes; not supported with ``"omp"`` and ``"lars"`` (``ValueError``, as in
        scikit-learn; the native API has non-negative OMP).

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
        Codes, dtype of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> sparse_encode(np.array([[0.0, 2.0, 1.0]]), np.eye(3), algorithm="omp",
    ...               n_nonzero_coefs=1)
    array([[0., 2., 0.]])
    """
    if algorithm not in _ALGORITHMS:
        raise InvalidParameterError(
            f"The 'algorithm' parameter of sparse_encode must be a str among "
            f"{set(_ALGORITHMS)}. Got {algorithm!r} instead."
        )
    if algorithm != "omp":
        return _dec.sparse_encode(
            X, dictionary, gram=gram, cov=cov, algorithm=algorithm,
            n_nonzero_coefs=n_nonzero_coefs, alpha=alpha, copy_cov=copy_cov, init=init,
            max_iter=max_iter, n_jobs=n_jobs, check_input=check_input, verbose=verbose,
            positive=positive,
        )  # fmt: skip
    n_nonzero_coefs = check_budget(n_nonzero_coefs, "n_nonzero_coefs", "sparse_encode")
    if check_bool(positive, "positive", "sparse_encode"):
        raise ValueError("Positive constraint not supported for 'omp' coding method.")
    Xa = as_float_array(X, "X")
    D = as_float_array(dictionary, "dictionary")
    if D.shape[1] != Xa.shape[1]:
        raise ValueError(
            "Dictionary and X have different numbers of features: "
            f"dictionary.shape: {D.shape} X.shape{Xa.shape}"
        )
    D = D.astype(np.promote_types(D.dtype, Xa.dtype), copy=False)
    return _omp_codes(Xa, D, gram, cov, n_nonzero_coefs, "n_nonzero_coefs")


def _omp_transform(est: Any, X, dictionary) -> np.ndarray:
    """OMP ``_transform`` of the sparse-coding estimators (scikit-learn's steps, batched)."""
    try:  # scikit-learn >= 1.6
        from sklearn.utils.validation import validate_data

        X = validate_data(est, X, reset=False)
    except ImportError:  # pragma: no cover - older scikit-learn
        X = est._validate_data(X, reset=False)
    if est.positive_code:
        raise ValueError("Positive constraint not supported for 'omp' coding method.")
    name = "transform_n_nonzero_coefs"
    budget = check_budget(est.transform_n_nonzero_coefs, name, type(est).__name__)
    Xa = as_float_array(X, "X")
    D = np.asarray(dictionary)
    D = D.astype(np.promote_types(D.dtype, Xa.dtype), copy=False)
    code = _omp_codes(Xa, D, None, None, budget, name)
    if est.split_sign:
        n_samples, n_components = code.shape
        split = np.empty((n_samples, 2 * n_components))
        split[:, :n_components] = np.maximum(code, 0)
        split[:, n_components:] = -np.minimum(code, 0)
        code = split
    return code


class SparseCoder(_dec.SparseCoder):
    """Sparse coding against a fixed dictionary; drop-in for scikit-learn's ``SparseCoder``.

    A subclass of :class:`sklearn.decomposition.SparseCoder` with the same parameters;
    ``transform_algorithm="omp"`` (the default) encodes every sample at once on the batched
    Gram kernel. ``transform_alpha`` does not affect OMP (as in scikit-learn), and
    ``transform_n_nonzero_coefs > n_components`` raises a ``ValueError`` naming it.

    Parameters
    ----------
    dictionary : ndarray of shape (n_components, n_features)
        Atoms as rows.
    **kwargs
        ``transform_algorithm``, ``transform_n_nonzero_coefs``, ``transform_alpha``,
        ``split_sign``, ``n_jobs``, ``positive_code``, ``transform_max_iter``: scikit-learn's.

    Examples
    --------
    >>> import numpy as np
    >>> SparseCoder(np.eye(3), transform_n_nonzero_coefs=1).transform(np.array([[1.0, -3, 2]]))
    array([[ 0., -3.,  0.]])
    """

    def transform(self, X, y=None):
        """Encode ``X`` as sparse combinations of the dictionary atoms.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.
        y : Ignored
            Present for API consistency.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            Codes (twice as wide with ``split_sign``).
        """
        if self.transform_algorithm != "omp":
            return super().transform(X, y)
        return _omp_transform(self, X, self.dictionary)


class _LearnedOMPTransform:
    """``transform`` of the dictionary learners: OMP through mplib, other algorithms as before."""

    def transform(self, X):
        """Encode ``X`` as sparse combinations of the learned atoms ``components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data.

        Returns
        -------
        ndarray of shape (n_samples, n_components)
            Codes (twice as wide with ``split_sign``).
        """
        if self.transform_algorithm != "omp":
            return super().transform(X)
        check_is_fitted(self)
        return _omp_transform(self, X, self.components_)


class DictionaryLearning(_LearnedOMPTransform, _dec.DictionaryLearning):
    """scikit-learn's ``DictionaryLearning`` whose OMP ``transform`` runs batched.

    Fitting is scikit-learn's (``fit_algorithm`` "lars" or "cd"; OMP is not a fitting method
    there either). See :class:`SparseCoder` for the OMP transform.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((12, 6))
    >>> DictionaryLearning(4, transform_algorithm="omp", random_state=0).fit_transform(X).shape
    (12, 4)
    """


class MiniBatchDictionaryLearning(_LearnedOMPTransform, _dec.MiniBatchDictionaryLearning):
    """scikit-learn's ``MiniBatchDictionaryLearning`` whose OMP ``transform`` runs batched.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((12, 6))
    >>> est = MiniBatchDictionaryLearning(4, batch_size=4, transform_algorithm="omp",
    ...                                   random_state=0, max_iter=5)
    >>> est.fit(X).transform(X).shape
    (12, 4)
    """
