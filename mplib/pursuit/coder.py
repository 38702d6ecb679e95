"""``PursuitCoder``: the pursuit solvers as a scikit-learn transformer over a fixed dictionary."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin

from mplib.pursuit.api import ALGORITHMS, sparse_encode

__all__ = ["PursuitCoder"]

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(est, *args, **kwargs):
        return est._validate_data(*args, **kwargs)


class PursuitCoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Encode samples as sparse combinations of a fixed dictionary's atoms (a transformer).

    ``transform`` calls :func:`mplib.pursuit.sparse_encode`: approximately
    ``min ‖x − z D‖²`` subject to ``‖z‖₀ <= n_nonzero_coefs`` (or until ``‖x − z D‖² <= tol``)
    for every row of ``X``, with MP, OMP, gradient pursuit or ACGP. Like scikit-learn's
    ``SparseCoder`` it is stateless: ``fit`` only validates, and ``transform`` works unfitted.

    Parameters
    ----------
    dictionary : ndarray or Tensor of shape (n_atoms, n_features)
        Atoms as rows (any norms).
    algorithm : {"omp", "mp", "gp", "acgp"}, default="omp"
        Pursuit algorithm.
    n_nonzero_coefs : int, default=None
        Atoms per sample (MP: steps). None means ``max(int(0.1 * n_atoms), 1)``, or no budget
        besides ``n_atoms`` when ``tol`` is given.
    tol : float, default=None
        Stop a sample once its squared residual norm is at most ``tol``.
    positive : bool, default=False
        Non-negative codes (OMP refits by exact NNLS).

    Attributes
    ----------
    n_components_ : int
        Number of atoms (set by ``fit``).
    n_features_in_ : int
        Number of features seen by ``fit``.

    Notes
    -----
    numpy input gives numpy codes in the dtype of ``X`` (the dictionary is cast to it, as
    scikit-learn's transformers preserve float32); a torch ``X`` goes straight to
    :func:`~mplib.pursuit.sparse_encode` and gives a tensor on its device. Algorithms and
    references: see :func:`~mplib.pursuit.sparse_encode`.

    Examples
    --------
    >>> import numpy as np
    >>> coder = PursuitCoder(np.eye(3), n_nonzero_coefs=1)
    >>> coder.fit_transform(np.array([[0.5, -2.0, 1.0]]))
    array([[ 0., -2.,  0.]])
    """

    def __init__(
        self,
        dictionary: Any,
        algorithm: str = "omp",
        n_nonzero_coefs: int | None = None,
        tol: float | None = None,
        positive: bool = False,
    ) -> None:
        self.dictionary = dictionary
        self.algorithm = algorithm
        self.n_nonzero_coefs = n_nonzero_coefs
        self.tol = tol
        self.positive = positive

    def _dictionary(self) -> tuple[np.ndarray | torch.Tensor, int]:
        """Validate the parameters; return the dictionary and its number of features."""
        if not isinstance(self.algorithm, str) or self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        k = self.n_nonzero_coefs
        if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral)):
            raise TypeError(f"n_nonzero_coefs must be a positive int or None, got {k!r}")
        if k is not None and k < 1:
            raise ValueError(f"n_nonzero_coefs must be >= 1, got {k}")
        tol = self.tol
        if tol is not None and (isinstance(tol, bool) or not isinstance(tol, numbers.Real)):
            raise TypeError(f"tol must be a non-negative float or None, got {tol!r}")
        if tol is not None and not tol >= 0:
            raise ValueError(f"tol must be >= 0 (a squared residual norm), got {tol}")
        if not isinstance(self.positive, bool | np.bool_):
            raise TypeError(f"positive must be True or False, got {self.positive!r}")
        D = self.dictionary
        if not isinstance(D, torch.Tensor):
            D = np.asarray(D)
            if D.dtype.kind not in "biuf":
                raise TypeError(f"dictionary must hold real numbers, got dtype {D.dtype}")
        if D.ndim != 2 or D.shape[0] == 0:
            raise ValueError(
                f"dictionary must be 2-D (n_atoms, n_features) with atoms, got shape "
                f"{tuple(D.shape)}"
            )
        return D, int(D.shape[1])

    def fit(self, X: Any, y: Any = None) -> PursuitCoder:
        """Validate the parameters and ``X`` (nothing is learned).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; only its number of features is checked.
        y : Ignored
            Present for API consistency.

        Returns
        -------
        self : PursuitCoder
            This coder.
        """
        D, n_features = self._dictionary()
        if isinstance(X, torch.Tensor):
            shape = tuple(X.shape)
            self.n_features_in_ = shape[-1] if X.ndim == 2 else None
        else:
            shape = _validate_data(self, X).shape
        if len(shape) != 2 or shape[1] != n_features:
            raise ValueError(
                f"X must have n_features = {n_features} columns like the dictionary, got "
                f"shape {shape}"
            )
        self.n_components_ = int(D.shape[0])
        return self

    def transform(self, X: Any) -> Any:
        """Encode every row of ``X``.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray or Tensor of shape (n_samples, n_atoms)
            Codes, ``X ≈ codes @ dictionary``.
        """
        D, n_features = self._dictionary()
        if not isinstance(X, torch.Tensor):
            X = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
            if X.shape[1] != n_features:
                raise ValueError(
                    f"X must have n_features = {n_features} columns like the dictionary, got "
                    f"shape {X.shape}"
                )
            D = D.detach().cpu().numpy() if isinstance(D, torch.Tensor) else D
            D = D.astype(X.dtype, copy=False)
        return sparse_encode(
            X,
            D,
            algorithm=self.algorithm,
            n_nonzero_coefs=self.n_nonzero_coefs,
            tol=self.tol,
            positive=bool(self.positive),
        ).codes

    def inverse_transform(self, X: Any) -> Any:
        """Decode codes back to samples: ``codes @ dictionary``.

        Parameters
        ----------
        X : array-like or Tensor of shape (n_samples, n_atoms)
            Codes.

        Returns
        -------
        ndarray or Tensor of shape (n_samples, n_features)
            Reconstructions.
        """
        D, _ = self._dictionary()
        if isinstance(X, torch.Tensor):
            D = torch.as_tensor(D, device=X.device)
            dtype = torch.promote_types(X.dtype, D.dtype)
            return X.to(dtype) @ D.to(dtype)
        codes = np.asarray(X)
        D = D.detach().cpu().numpy() if isinstance(D, torch.Tensor) else D
        if codes.ndim != 2 or codes.shape[1] != D.shape[0]:
            raise ValueError(f"codes must have shape (n_samples, {D.shape[0]}), got {codes.shape}")
        return codes @ D.astype(np.result_type(codes.dtype, np.float32), copy=False)

    @property
    def _n_features_out(self) -> int:
        return int(self._dictionary()[0].shape[0])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False  # stateless, like SparseCoder
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
