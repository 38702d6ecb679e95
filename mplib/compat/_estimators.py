"""``OrthogonalMatchingPursuit`` and ``OrthogonalMatchingPursuitCV`` on the batched solver.

Both subclass scikit-learn's estimators, so parameters, ``predict``, ``score``, tags, feature
names and metadata routing are scikit-learn's own; only ``fit`` is replaced, with the same
steps, calling :func:`mplib.compat.sklearn.orthogonal_mp` / ``orthogonal_mp_gram``.
"""

from __future__ import annotations

import numpy as np
from sklearn import get_config
from sklearn import linear_model as _lm
from sklearn.model_selection import check_cv
from sklearn.utils.metadata_routing import process_routing
from sklearn.utils.parallel import Parallel, delayed

from mplib.compat._omp import default_n_nonzero_coefs, orthogonal_mp, orthogonal_mp_gram

__all__ = ["OrthogonalMatchingPursuit", "OrthogonalMatchingPursuitCV"]

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(est, *args, **kwargs):
        return est._validate_data(*args, **kwargs)


def _center(X, y, fit_intercept):
    """Centre ``X`` and ``y`` (y cast to X's dtype) as scikit-learn's ``_preprocess_data``."""
    y = np.asarray(y, dtype=X.dtype)
    if fit_intercept:
        X_offset = X.mean(axis=0).astype(X.dtype, copy=False)
        y_offset = y.mean(axis=0)
        return X - X_offset, y - y_offset, X_offset, y_offset
    n_targets = () if y.ndim == 1 else (y.shape[1],)
    return X.copy(), y.copy(), np.zeros(X.shape[1], X.dtype), np.zeros(n_targets, X.dtype)


def _set_intercept(est, X_offset, y_offset):
    if est.fit_intercept:
        # Dividing by scikit-learn's unit X_scale also turns a squeezed 0-d coef_ (one
        # feature, one target) back into shape (1,), as there.
        est.coef_ = est.coef_.astype(X_offset.dtype, copy=False) / np.ones_like(X_offset)
        est.intercept_ = y_offset - X_offset @ est.coef_.T
    else:
        est.intercept_ = 0.0


class OrthogonalMatchingPursuit(_lm.OrthogonalMatchingPursuit):
    """Orthogonal Matching Pursuit model (OMP), batched over targets.

    Drop-in for :class:`sklearn.linear_model.OrthogonalMatchingPursuit` (a subclass of it):
    same parameters, attributes and results; every target of ``y`` is solved at once.

    Parameters
    ----------
    n_nonzero_coefs : int, default=None
        Maximum number of non-zero coefficients; ignored when ``tol`` is set. None means
        ``max(int(0.1 * n_features), 1)``.
    tol : float, default=None
        Maximum squared norm of the residual; overrides ``n_nonzero_coefs``.
    fit_intercept : bool, default=True
        Centre ``X`` and ``y`` and fit an intercept.
    precompute : "auto" or bool, default="auto"
        Selects scikit-learn's code path, which only decides the dtype of ``coef_`` without an
        intercept (float32 input stays float32 on the Gram path).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept (0.0 without ``fit_intercept``).
    n_iter_ : int or list of int
        Active atoms per target.
    n_nonzero_coefs_ : int or None
        The budget used; None when ``tol`` is set.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    Pati, Rezaiifar & Krishnaprasad, Asilomar 1993; Rubinstein, Zibulevsky & Elad, Technion
    CS report 2008 (Batch-OMP).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.eye(5)
    >>> reg = OrthogonalMatchingPursuit(n_nonzero_coefs=1, fit_intercept=False)
    >>> reg.fit(X, np.array([0.0, 0.0, 2.0, 0.0, 0.5])).coef_
    array([0., 0., 2., 0., 0.])
    """

    def fit(self, X, y):
        """Fit the model using ``X``, ``y`` as training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (the dictionary, atoms as columns).
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets, cast to X's dtype.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if not get_config().get("skip_parameter_validation", False):
            self._validate_params()
        X, y = _validate_data(
            self, X, y, multi_output=True, y_numeric=True, dtype=[np.float64, np.float32]
        )
        n_features = X.shape[1]
        X, y, X_offset, y_offset = _center(X, y, self.fit_intercept)
        if y.ndim == 1:
            y = y[:, np.newaxis]
        if self.n_nonzero_coefs is None and self.tol is None:
            self.n_nonzero_coefs_ = default_n_nonzero_coefs(n_features)
        elif self.tol is not None:
            self.n_nonzero_coefs_ = None
        else:
            self.n_nonzero_coefs_ = self.n_nonzero_coefs
        precompute = self.precompute
        if precompute == "auto":
            precompute = X.shape[0] > n_features
        if precompute:
            coef_, self.n_iter_ = orthogonal_mp_gram(
                X.T @ X,
                X.T @ y,
                n_nonzero_coefs=self.n_nonzero_coefs_,
                tol=self.tol,
                norms_squared=np.sum(y**2, axis=0) if self.tol is not None else None,
                return_n_iter=True,
            )
        else:
            coef_, self.n_iter_ = orthogonal_mp(
                X, y, n_nonzero_coefs=self.n_nonzero_coefs_, tol=self.tol, return_n_iter=True
            )
        self.coef_ = coef_.T
        _set_intercept(self, X_offset, y_offset)
        return self


def _omp_path_residues(X_train, y_train, X_test, y_test, fit_intercept, max_iter):
    """Held-out residues (n_steps, n_test) along the OMP path fitted on the training fold."""
    if fit_intercept:
        X_mean = X_train.mean(axis=0)
        y_mean = y_train.mean(axis=0)
        X_train, X_test = X_train - X_mean, X_test - X_mean
        y_train, y_test = y_train - y_mean, y_test - y_mean
    coefs = orthogonal_mp(X_train, y_train, n_nonzero_coefs=max_iter, return_path=True)
    if coefs.ndim == 1:
        coefs = coefs[:, np.newaxis]
    return coefs.T @ X_test.T - y_test


class OrthogonalMatchingPursuitCV(_lm.OrthogonalMatchingPursuitCV):
    """Cross-validated Orthogonal Matching Pursuit model (OMP).

    Drop-in for :class:`sklearn.linear_model.OrthogonalMatchingPursuitCV` (a subclass of it):
    per fold, the OMP path up to ``max_iter`` atoms and its held-out squared errors; all folds
    truncated to the shortest path; the sparsity with the lowest mean error is refitted on all
    data with :class:`OrthogonalMatchingPursuit`.

    Parameters
    ----------
    copy : bool, default=True
        Accepted for compatibility: the data are never modified.
    fit_intercept : bool, default=True
        Centre the data and fit an intercept.
    max_iter : int, default=None
        Longest path; None means ``min(max(int(0.1 * n_features), 5), n_features)``.
    cv : int, cross-validation generator or iterable, default=None
        Splitting strategy (None: 5-fold), as :func:`sklearn.model_selection.check_cv`.
    n_jobs : int, default=None
        Folds run in parallel with joblib.
    verbose : bool or int, default=False
        Verbosity of joblib.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients of the refitted model.
    intercept_ : float
        Intercept of the refitted model.
    n_nonzero_coefs_ : int
        Sparsity with the lowest mean held-out error.
    n_iter_ : int
        Active atoms of the refitted model.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 20))
    >>> y = X[:, 3] - 2 * X[:, 7]
    >>> OrthogonalMatchingPursuitCV(cv=3).fit(X, y).n_nonzero_coefs_
    np.int64(2)
    """

    def fit(self, X, y, **fit_params):
        """Fit the model using ``X``, ``y`` as training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Target values, cast to X's dtype.
        **fit_params : dict
            Parameters for the splitter (only with metadata routing enabled).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if not get_config().get("skip_parameter_validation", False):
            self._validate_params()
        routing = get_config().get("enable_metadata_routing", False)
        if fit_params and not routing:
            raise ValueError(
                f"Passing extra keyword arguments to {type(self).__name__}.fit is only "
                f"supported if enable_metadata_routing=True; got {sorted(fit_params)}."
            )
        X, y = _validate_data(self, X, y, y_numeric=True, ensure_min_features=2)
        X = np.asarray(X, dtype=X.dtype if X.dtype.kind == "f" else np.float64)
        split_params = process_routing(self, "fit", **fit_params).splitter.split if routing else {}
        cv = check_cv(self.cv, classifier=False)
        n_features = X.shape[1]
        max_iter = (
            min(max(int(0.1 * n_features), 5), n_features) if not self.max_iter else self.max_iter
        )
        cv_paths = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_omp_path_residues)(
                X[train], y[train], X[test], y[test], self.fit_intercept, max_iter
            )
            for train, test in cv.split(X, **split_params)
        )
        shortest = min(fold.shape[0] for fold in cv_paths)
        mse_folds = np.array([(fold[:shortest] ** 2).mean(axis=1) for fold in cv_paths])
        best = np.argmin(mse_folds.mean(axis=0)) + 1
        self.n_nonzero_coefs_ = best
        omp = OrthogonalMatchingPursuit(n_nonzero_coefs=int(best), fit_intercept=self.fit_intercept)
        omp.fit(X, y)
        self.coef_ = omp.coef_
        self.intercept_ = omp.intercept_
        self.n_iter_ = omp.n_iter_
        return self
