"""Dictionary learning by alternating sparse coding and dictionary updates: MOD and K-SVD.

Both solve ``min_{D, Z} ‖X − Z D‖_F²`` subject to ``‖z_i‖₀ <= k`` (or ``‖x_i − z_i D‖² <= tol``)
and unit-norm rows of ``D``, by alternating two steps for ``n_iter`` iterations::

    D ← init (random signals, or the overcomplete DCT)
    repeat n_iter times:
        Z ← OMP(X, D)                        # sparse coding, mplib's Gram-space Batch-OMP
        MOD:   D ← argmin_D ‖X − Z D‖_F²  =  (ZᵀZ)⁻¹ Zᵀ X,  rows rescaled to unit norm
        K-SVD: for j = 1 … n_atoms, in order:
                 ω ← signals that use atom j
                 E ← X_ω − Z_ω D + z_ωj d_j     # residual without atom j, on ω only
                 (d_j, z_ωj) ← best rank-1 fit of E  (top singular pair: d_j = v₁, z = σ₁u₁)
        atoms no signal uses ← the worst-represented signals (largest ‖x − zD‖), unit norm

Each K-SVD atom update can only lower the error (the rank-1 fit includes the old pair), so
the error after the update is at most the error after coding; OMP being greedy, the coding
step is not guaranteed to lower it, but in practice the per-iteration error decreases.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from mplib.pursuit import sparse_encode
from mplib.repro import numpy_generator

__all__ = ["CODERS", "INITS", "DictionaryLearningResult", "ksvd", "mod", "overcomplete_dct"]

CODERS = ("mplib", "sklearn")
INITS = ("data", "dct")


class DictionaryLearningResult(NamedTuple):
    """Result of :func:`ksvd` and :func:`mod`."""

    dictionary: np.ndarray
    """Learned dictionary (n_atoms, n_features), unit-norm rows (atoms are rows)."""
    codes: np.ndarray
    """Codes (n_samples, n_atoms) of the last iteration, after its update: ``X ≈ codes @ D``."""
    rmse: np.ndarray
    """(n_iter,) ``‖X − Z D‖_F / sqrt(n_samples · n_features)`` after each iteration's update."""
    rmse_coding: np.ndarray
    """(n_iter,) the same after each iteration's sparse-coding step (before the update)."""
    time_coding: np.ndarray
    """(n_iter,) seconds spent in the sparse-coding step of each iteration."""
    time_update: np.ndarray
    """(n_iter,) seconds spent in the dictionary update (and atom replacement)."""
    n_replaced: np.ndarray
    """(n_iter,) int: atoms no signal used, replaced by badly represented signals."""


def overcomplete_dct(patch_size: int = 8, n_atoms: int = 256) -> np.ndarray:
    """Overcomplete separable 2-D DCT dictionary for square patches.

    One-dimensional atoms ``a_k(i) = cos(i k π / m)``, ``i < patch_size``, ``k < m`` with
    ``m = sqrt(n_atoms)``, mean removed for ``k > 0`` and unit-normalised; the 2-D atoms are
    their Kronecker products (the ``odctdict`` of Rubinstein's KSVD-Box). With
    ``n_atoms = patch_size²`` it is a basis (not orthogonal: the mean-removed cosines).

    Parameters
    ----------
    patch_size : int, default=8
        Side of the square patch; atoms have ``patch_size**2`` entries.
    n_atoms : int, default=256
        A perfect square ``m²`` with ``m >= patch_size``.

    Returns
    -------
    ndarray of shape (n_atoms, patch_size**2)
        Unit-norm atoms as rows, the constant (DC) atom first.

    Examples
    --------
    >>> D = overcomplete_dct(4, 16)
    >>> D.shape, int(np.linalg.matrix_rank(D))
    ((16, 16), 16)
    """
    p = _positive_int(patch_size, "patch_size")
    n = _positive_int(n_atoms, "n_atoms")
    m = int(round(np.sqrt(n)))
    if m * m != n or m < p:
        raise ValueError(
            f"n_atoms must be a perfect square m**2 with m >= patch_size={p}, got {n_atoms}"
        )
    i = np.arange(p)[:, None]
    a = np.cos(i * np.arange(m)[None, :] * np.pi / m)  # (p, m)
    a[:, 1:] -= a[:, 1:].mean(0)
    a /= np.linalg.norm(a, axis=0)
    return np.ascontiguousarray(np.kron(a, a).T)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _check_signals(X: Any) -> np.ndarray:
    try:
        X = np.asarray(X)
    except Exception as exc:  # noqa: BLE001 - ragged lists and the like
        raise TypeError(f"X must be a numeric 2-D array, got {type(X).__name__}") from exc
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must be numeric, got dtype {X.dtype}")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be 2-D (n_samples, n_features) and non-empty, got {X.shape}")
    X = X.astype(np.float64)  # a private copy: fp64 keeps the oracle comparison at 1e-8
    if not np.isfinite(X).all():
        raise ValueError("X must be finite (no NaN or inf)")
    return X


def _initial_dictionary(X: np.ndarray, n_atoms: int, init: Any, rng) -> np.ndarray:
    n, d = X.shape
    if isinstance(init, str):
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS} or an array, got {init!r}")
        if init == "dct":
            p = int(round(np.sqrt(d)))
            if p * p != d:
                raise ValueError(f"init='dct' needs square patches: n_features={d} is not p**2")
            return overcomplete_dct(p, n_atoms)
        if n_atoms > n:
            raise ValueError(f"init='data' needs n_atoms <= n_samples={n}, got n_atoms={n_atoms}")
        D = X[rng.choice(n, size=n_atoms, replace=False)].copy()
    else:
        D = np.array(init, dtype=np.float64)
        if D.shape != (n_atoms, d):
            raise ValueError(f"init must have shape (n_atoms, n_features)={(n_atoms, d)}, "
                             f"got {D.shape}")
        if not np.isfinite(D).all():
            raise ValueError("init must be finite")
    norms = np.linalg.norm(D, axis=1)
    dead = norms <= 1e-12 * max(float(norms.max(initial=0.0)), 1.0)
    if dead.any():  # zero signals (flat patches) make no atom: random unit directions instead
        D[dead] = rng.standard_normal((int(dead.sum()), d))
        norms[dead] = np.linalg.norm(D[dead], axis=1)
    return D / norms[:, None]


class _Codes:
    """Sparse codes in coordinate form, entries grouped by atom (rows increasing in a group)."""

    def __init__(self, rows: np.ndarray, atoms: np.ndarray, vals: np.ndarray, shape):
        order = np.argsort(atoms, kind="stable")
        self.rows, self.atoms, self.vals = rows[order], atoms[order], vals[order]
        self.starts = np.searchsorted(self.atoms, np.arange(shape[1] + 1))
        self.shape = shape

    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.vals, (self.rows, self.atoms)), shape=self.shape)

    def residual(self, X: np.ndarray, D: np.ndarray) -> np.ndarray:
        return X - self.matrix() @ D


def _sparse_code(X, D, k, tol, coder) -> _Codes:
    shape = (X.shape[0], D.shape[0])
    if coder == "mplib":
        res = sparse_encode(X, D, n_nonzero_coefs=k, tol=tol, regime="gram", return_sparse=True)
        live = np.arange(res.indices.shape[1])[None, :] < res.n_iter[:, None]
        rows = np.nonzero(live)[0]
        return _Codes(rows, res.indices[live], res.values[live], shape)
    # the oracle / anchor: scikit-learn's Gram OMP (atoms as columns), same G and Dᵀx
    from sklearn.linear_model import orthogonal_mp_gram

    norms = (X * X).sum(1) if tol is not None else None
    with warnings.catch_warnings():
        # with init="data" a signal equal to an atom is exact after one atom; scikit-learn
        # then warns "ended prematurely" (its absolute floor), mplib stops silently
        warnings.filterwarnings("ignore", "Orthogonal matching pursuit ended prematurely",
                                RuntimeWarning)
        coef = orthogonal_mp_gram(D @ D.T, D @ X.T, n_nonzero_coefs=k, tol=tol,
                                  norms_squared=norms)
    coef = np.asarray(coef).reshape(D.shape[0], X.shape[0]).T
    rows, atoms = np.nonzero(coef)
    return _Codes(rows, atoms, coef[rows, atoms], shape)


def _rank1(E: np.ndarray, d_old: np.ndarray, g: np.ndarray, approximate: bool):
    """Best rank-1 fit ``E ≈ g dᵀ`` with ‖d‖ = 1 (exact SVD, or one power step from d_old)."""
    if approximate:  # Rubinstein, Zibulevsky & Elad 2008, approximate K-SVD (one step)
        d = E.T @ g
        nd = np.linalg.norm(d)
        if nd == 0:
            return d_old, g
        d = d / nd
        return d, E @ d
    if E.shape[0] >= E.shape[1]:
        # top eigenvector of the small d × d Gram EᵀE: the top right singular vector
        w, V = np.linalg.eigh(E.T @ E)
        d = V[:, -1]
    else:
        _, _, vt = np.linalg.svd(E, full_matrices=False)
        d = vt[0]
    if d @ d_old < 0:  # fix SVD's sign freedom: stay on the old atom's side
        d = -d
    return d, E @ d


def _replace_unused(X, D, R, unused, rng) -> None:
    """Replace unused atoms by the worst-represented signals (unit norm), in place."""
    if not unused:
        return
    energy = (R * R).sum(1)
    worst = np.argsort(-energy, kind="stable")
    picks = [i for i in worst[: 4 * len(unused) + 8] if energy[i] > 0][: len(unused)]
    for slot, j in enumerate(unused):
        if slot < len(picks):
            v = X[picks[slot]]
        else:  # everything is represented exactly: any unit direction will do
            v = rng.standard_normal(X.shape[1])
        D[j] = v / np.linalg.norm(v)


def _rmse(R: np.ndarray) -> float:
    return float(np.sqrt((R * R).mean()))


def _ksvd_update(X, D, codes: _Codes, approximate: bool, rng) -> int:
    R = codes.residual(X, D)
    unused = []
    for j in range(D.shape[0]):
        lo, hi = codes.starts[j], codes.starts[j + 1]
        if lo == hi:
            unused.append(j)
            continue
        r = codes.rows[lo:hi]
        g = codes.vals[lo:hi]
        E = R[r] + np.outer(g, D[j])
        d, g_new = _rank1(E, D[j], g, approximate)
        D[j] = d
        codes.vals[lo:hi] = g_new
        R[r] = E - np.outer(g_new, d)
    _replace_unused(X, D, R, unused, rng)
    return len(unused)


def _mod_update(X, D, codes: _Codes, rng) -> int:
    counts = np.diff(codes.starts)
    used = np.flatnonzero(counts)
    Z = codes.matrix()[:, used]
    ZtZ = (Z.T @ Z).toarray()
    ZtX = np.asarray(Z.T @ X)
    try:
        Du = np.linalg.solve(ZtZ, ZtX)
    except np.linalg.LinAlgError:  # singular normal equations: minimum-norm least squares
        Du = np.linalg.lstsq(ZtZ, ZtX, rcond=None)[0]
    norms = np.linalg.norm(Du, axis=1)
    unused = list(np.flatnonzero(counts == 0))
    keep = norms > 0
    D[used[keep]] = Du[keep] / norms[keep, None]
    scale = np.zeros(D.shape[0])
    scale[used[keep]] = norms[keep]
    codes.vals *= scale[codes.atoms]  # Z D unchanged by the normalisation
    unused += list(used[~keep])
    _replace_unused(X, D, codes.residual(X, D), sorted(unused), rng)
    return len(unused)


def _learn(X, n_atoms, k, tol, n_iter, seed, init, coder, method, approximate):
    X = _check_signals(X)
    n_atoms = _positive_int(n_atoms, "n_atoms")
    n_iter = _positive_int(n_iter, "n_iter")
    if k is None and tol is None:
        raise ValueError("k and tol are both None: give a sparsity k, a tolerance tol, or both")
    if k is not None:
        k = _positive_int(k, "k")
        if k > min(n_atoms, X.shape[1]):
            raise ValueError(f"k must be at most min(n_atoms, n_features)="
                             f"{min(n_atoms, X.shape[1])}, got {k}")
    if tol is not None:
        if isinstance(tol, bool) or not isinstance(tol, int | float | np.floating):
            raise TypeError(f"tol must be a non-negative float or None, got {tol!r}")
        if not tol >= 0 or not np.isfinite(tol):
            raise ValueError(f"tol must be a finite float >= 0, got {tol}")
        tol = float(tol)
    if not isinstance(coder, str) or coder not in CODERS:
        raise ValueError(f"coder must be one of {CODERS}, got {coder!r}")
    if not isinstance(approximate, bool):
        raise TypeError(f"approximate must be True or False, got {approximate!r}")
    rng = numpy_generator(seed)
    D = _initial_dictionary(X, n_atoms, init, rng)
    hist = np.zeros((4, n_iter))
    replaced = np.zeros(n_iter, dtype=np.int64)
    for it in range(n_iter):
        t0 = time.perf_counter()
        codes = _sparse_code(X, D, k, tol, coder)
        t1 = time.perf_counter()
        hist[1, it] = _rmse(codes.residual(X, D))
        t2 = time.perf_counter()
        # one BLAS thread: hundreds of tiny (64 × 64) eigenproblems, where thread start-up
        # and, on a busy machine, oversubscription cost 10-100× the arithmetic
        with threadpool_limits(1):
            if method == "ksvd":
                replaced[it] = _ksvd_update(X, D, codes, approximate, rng)
            else:
                replaced[it] = _mod_update(X, D, codes, rng)
        t3 = time.perf_counter()
        hist[0, it] = _rmse(codes.residual(X, D))
        hist[2, it], hist[3, it] = t1 - t0, t3 - t2
    return DictionaryLearningResult(D, codes.matrix().toarray(), hist[0], hist[1], hist[2],
                                    hist[3], replaced)


_COMMON_DOC = """
    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        Training signals, one per row (copied to float64).
    n_atoms : int
        Atoms to learn.
    k : int, optional
        Atoms per signal in the coding step (at most ``min(n_atoms, n_features)``).
    tol : float, optional
        Or/and stop coding a signal once its squared residual norm is at most ``tol``
        (Elad & Aharon's error-constrained coding). At least one of ``k``, ``tol``.
    n_iter : int, default=10
        Coding/update iterations.
    seed : int or numpy.random.Generator, default=0
        Seeds the initial dictionary and the replacement of degenerate atoms.
    init : {"data", "dct"} or array of shape (n_atoms, n_features), default="data"
        ``"data"``: distinct random training signals, unit-normalised (Aharon et al.);
        ``"dct"``: :func:`overcomplete_dct` (square patches only); or a given dictionary.
    coder : {"mplib", "sklearn"}, default="mplib"
        Sparse coder: :func:`mplib.pursuit.sparse_encode` (OMP, Gram regime) or
        scikit-learn's ``orthogonal_mp_gram`` on the same Gram matrix (the oracle and speed
        anchor; the same codes up to rounding)."""


def ksvd(X: Any, n_atoms: int, *, k: int | None = None, tol: float | None = None,
         n_iter: int = 10, seed: Any = 0, init: Any = "data", coder: str = "mplib",
         approximate: bool = False) -> DictionaryLearningResult:
    """Learn a dictionary by K-SVD: OMP coding, then one rank-1 SVD update per atom.

    Atom ``j`` and its coefficients are replaced by the best rank-1 approximation of the
    residual without atom ``j``, restricted to the signals that use ``j`` (so supports stay
    fixed and sparsity is preserved); atoms are updated in order, each seeing the previous
    ones' updates. Unused atoms are replaced by the worst-represented signals.

    {common}
    approximate : bool, default=False
        One power-iteration step from the current atom instead of the exact SVD
        (approximate K-SVD): ``d ← Eᵀg / ‖Eᵀg‖``, ``g ← E d``.

    Returns
    -------
    DictionaryLearningResult

    Raises
    ------
    ValueError
        Bad shapes, non-finite values, ``k``/``tol`` both None or out of range, unknown
        ``init`` or ``coder``.
    TypeError
        Non-numeric ``X`` or options of the wrong type.

    Notes
    -----
    Aharon, Elad & Bruckstein, "K-SVD: an algorithm for designing overcomplete dictionaries
    for sparse representation", IEEE TSP 54(11), 2006, Sec. IV (Fig. 2 gives the algorithm).
    Approximate K-SVD and Batch-OMP: Rubinstein, Zibulevsky & Elad, "Efficient implementation
    of the K-SVD algorithm using batch orthogonal matching pursuit", Technion CS-2008-08.
    Our choices: the coding step runs on the dictionary of the previous iteration; the top
    singular pair comes from the eigendecomposition of the small Gram ``EᵀE``; its sign is
    the one closer to the old atom.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 16))
    >>> res = ksvd(X, 32, k=3, n_iter=3, seed=0)
    >>> res.dictionary.shape, res.codes.shape, bool(res.rmse[-1] <= res.rmse_coding[0])
    ((32, 16), (200, 32), True)
    """
    return _learn(X, n_atoms, k, tol, n_iter, seed, init, coder, "ksvd", approximate)


def mod(X: Any, n_atoms: int, *, k: int | None = None, tol: float | None = None,
        n_iter: int = 10, seed: Any = 0, init: Any = "data",
        coder: str = "mplib") -> DictionaryLearningResult:
    """Learn a dictionary by the method of optimal directions (MOD).

    The update is the closed-form least-squares dictionary for the current codes,
    ``D = (ZᵀZ)⁻¹ Zᵀ X`` (over the atoms in use), its rows rescaled to unit norm and the
    codes by the inverse factors (``Z D`` unchanged). Unused atoms are replaced by the
    worst-represented signals.

    {common}

    Returns
    -------
    DictionaryLearningResult

    Raises
    ------
    ValueError
        As :func:`ksvd`.
    TypeError
        As :func:`ksvd`.

    Notes
    -----
    Engan, Aase & Husøy, "Method of optimal directions for frame design", ICASSP 1999;
    compared with K-SVD in Aharon, Elad & Bruckstein, IEEE TSP 54(11), 2006, Sec. III-C.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> res = mod(rng.standard_normal((200, 16)), 32, k=3, n_iter=2, seed=0)
    >>> bool(np.allclose(np.linalg.norm(res.dictionary, axis=1), 1))
    True
    """
    return _learn(X, n_atoms, k, tol, n_iter, seed, init, coder, "mod", False)


ksvd.__doc__ = ksvd.__doc__.replace("    {common}", _COMMON_DOC.strip("\n"))
mod.__doc__ = mod.__doc__.replace("    {common}", _COMMON_DOC.strip("\n"))
