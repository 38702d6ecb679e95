"""Textbook pursuit solvers in plain numpy, one signal at a time (what a student reads).

The batched torch solvers of :func:`mplib.pursuit.sparse_encode` are tested against these.
Notation: signal ``x`` (d,), dictionary ``D`` (N, d) with atoms as rows, code ``z`` (N,),
``x ≈ z @ D``; ``c = D r`` are the correlations of the residual ``r`` with every atom.

Common stop rules (same as the batched solvers): a budget of ``n_nonzero_coefs`` iterations;
``tol`` — stop once ``‖r‖² <= tol`` (tested before each step); and stop once the best score is
at most ``floor = sqrt(eps) · ‖x‖ · max_j ‖d_j‖`` (nothing left to explain). Ties go to the
lowest atom index (``np.argmax``). ``normalize`` scores ``|c_j| / ‖d_j‖``; ``positive`` scores
the signed ``c_j`` (non-negative variants).

Matching pursuit (Mallat & Zhang 1993)::

    r = x ; z = 0
    repeat:
        c = D r ; j = argmax |c_j|
        a = c_j / ‖d_j‖²            # exact 1-D projection
        z_j += a ; r -= a d_j        # an atom may be picked again

Orthogonal matching pursuit (Pati et al. 1993), Cholesky form without the Gram matrix::

    r = x ; Λ = [] ; L = []
    repeat:
        c = D r ; j = argmax |c_j| over j ∉ Λ
        w = solve(L, D_Λ d_j) ; ρ² = ‖d_j‖² − ‖w‖²      # new row of L, L Lᵀ = D_Λ D_Λᵀ
        stop if ρ² <= eps ‖d_j‖²                         # d_j depends on the selected atoms
        L = [[L, 0], [wᵀ, ρ]] ; Λ = Λ + [j]
        γ = solve(L Lᵀ, D_Λ x) ; r = x − γ D_Λ

Gradient pursuit and approximate conjugate gradient pursuit (Blumensath & Davies 2008)::

    r = x ; Γ = [] ; z = 0
    repeat:
        c = D r ; Γ = Γ + [argmax |c_j| over j ∉ Γ]
        g = c_Γ                                          # gradient on the support
        GP:   u = g
        ACGP: u = g + b u_prev, b = −⟨c_prev, D_Γᵀ g⟩ / ‖c_prev‖²
        c_img = uᵀ D_Γ ; step = ⟨r, c_img⟩ / ‖c_img‖²
        z_Γ += step u ; r −= step c_img

Non-negative variants: MP stops when no correlation is positive. OMP refits the support by
NNLS (``scipy.optimize.nnls``). GP/ACGP take the line-search step only up to the first
coefficient that would turn negative; coefficients that reach 0 leave the support, ACGP then
restarts from ``u = g``, and an iteration cap (``max_iter``, default ``2 · n_nonzero_coefs``)
bounds the refills.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.linalg import cho_solve, solve_triangular
from scipy.optimize import nnls as scipy_nnls

__all__ = [
    "ReferenceResult",
    "acgp",
    "gradient_pursuit",
    "matching_pursuit",
    "orthogonal_mp",
]


class ReferenceResult(NamedTuple):
    """Result of a reference solver (one signal)."""

    codes: np.ndarray
    """Code (N,), ``x ≈ codes @ D``."""
    residual: np.ndarray
    """``x − codes @ D`` (d,)."""
    n_iter: int
    """Iterations: MP steps, or atoms selected."""
    dependent: bool
    """OMP stopped on an atom dependent on the selected ones."""


def _scores(c, norms, positive, normalize):
    s = c if positive else np.abs(c)
    if normalize:
        s = np.where(norms > 0, s / np.where(norms > 0, norms, 1.0), 0.0)
    return s


def _floor(x, norms, normalize):
    scale = np.linalg.norm(x) * (1.0 if normalize else norms.max())
    return np.sqrt(np.finfo(x.dtype).eps) * scale


def _check(x, D):
    x = np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind != "f" else np.asarray(x)
    D = np.asarray(D, dtype=x.dtype)
    if x.ndim != 1 or D.ndim != 2 or D.shape[1] != x.shape[0]:
        raise ValueError(f"x must be (d,) and D (N, d), got {x.shape} and {D.shape}")
    return x, D


def matching_pursuit(x, D, n_nonzero_coefs, *, tol=None, positive=False, normalize=False):
    """Run matching pursuit on one signal (re-selection allowed).

    Parameters
    ----------
    x : ndarray of shape (d,)
        Signal.
    D : ndarray of shape (N, d)
        Dictionary, atoms as rows.
    n_nonzero_coefs : int
        Steps at most.
    tol : float, optional
        Stop once ``‖r‖² <= tol``.
    positive : bool, default=False
        Non-negative MP: pick the largest positive correlation.
    normalize : bool, default=False
        Score ``|c_j| / ‖d_j‖``.

    Returns
    -------
    ReferenceResult
    """
    x, D = _check(x, D)
    norms = np.linalg.norm(D, axis=1)
    floor = _floor(x, norms, normalize)
    z = np.zeros(D.shape[0], dtype=x.dtype)
    r = x.copy()
    steps = 0
    for _ in range(n_nonzero_coefs):
        if tol is not None and r @ r <= tol:
            break
        c = D @ r
        s = _scores(c, norms, positive, normalize)
        j = int(np.argmax(s))
        if not s[j] > floor:
            break
        a = c[j] / norms[j] ** 2
        z[j] += a
        r = r - a * D[j]
        steps += 1
    return ReferenceResult(z, x - z @ D, steps, False)


def orthogonal_mp(x, D, n_nonzero_coefs, *, tol=None, positive=False, normalize=False):
    """Run orthogonal matching pursuit on one signal (Cholesky update; NNLS refit if positive).

    Parameters
    ----------
    x : ndarray of shape (d,)
        Signal.
    D : ndarray of shape (N, d)
        Dictionary, atoms as rows (any norms).
    n_nonzero_coefs : int
        Atoms at most.
    tol : float, optional
        Stop once ``‖r‖² <= tol``.
    positive : bool, default=False
        Non-negative OMP: positive selection, refit by NNLS on the support.
    normalize : bool, default=False
        Score ``|c_j| / ‖d_j‖``.

    Returns
    -------
    ReferenceResult
    """
    x, D = _check(x, D)
    norms = np.linalg.norm(D, axis=1)
    floor = _floor(x, norms, normalize)
    eps = np.finfo(x.dtype).eps
    support: list[int] = []
    L = np.zeros((0, 0), dtype=x.dtype)
    gamma = np.zeros(0, dtype=x.dtype)
    r = x.copy()
    dependent = False
    for _ in range(min(n_nonzero_coefs, D.shape[1])):
        if tol is not None and r @ r <= tol:
            break
        s = _scores(D @ r, norms, positive, normalize)
        s[support] = -np.inf  # never select an atom twice
        j = int(np.argmax(s))
        if not s[j] > floor:
            break
        w = solve_triangular(L, D[support] @ D[j], lower=True) if support else np.zeros(0)
        rho2 = norms[j] ** 2 - w @ w
        if rho2 <= eps * norms[j] ** 2:
            dependent = True
            break
        k = len(support)
        L = np.block([[L, np.zeros((k, 1))], [w[None, :], np.sqrt(rho2) * np.ones((1, 1))]])
        support.append(j)
        A = D[support]
        if positive:
            gamma = scipy_nnls(A.T, x)[0]
        else:
            gamma = cho_solve((L, True), A @ x)
        r = x - gamma @ A
    z = np.zeros(D.shape[0], dtype=x.dtype)
    z[support] = gamma
    return ReferenceResult(z, x - z @ D, len(support), dependent)


def gradient_pursuit(
    x, D, n_nonzero_coefs, *, tol=None, positive=False, normalize=False, conjugate=False,
    max_iter=None,
):
    """Run gradient pursuit on one signal (``conjugate=True``: ACGP).

    Parameters
    ----------
    x : ndarray of shape (d,)
        Signal.
    D : ndarray of shape (N, d)
        Dictionary, atoms as rows.
    n_nonzero_coefs : int
        Support size at most.
    tol : float, optional
        Stop once ``‖r‖² <= tol``.
    positive : bool, default=False
        Non-negative variant (cut steps, atoms at 0 leave the support).
    normalize : bool, default=False
        Score ``|c_j| / ‖d_j‖`` for selection.
    conjugate : bool, default=False
        Approximate conjugate gradient pursuit directions.
    max_iter : int, optional
        Iteration cap of the non-negative variant (default ``2 · n_nonzero_coefs``).

    Returns
    -------
    ReferenceResult
    """
    x, D = _check(x, D)
    norms = np.linalg.norm(D, axis=1)
    floor = _floor(x, norms, normalize)
    tiny = np.finfo(x.dtype).tiny
    cap = n_nonzero_coefs if not positive else (max_iter or 2 * n_nonzero_coefs)
    z = np.zeros(D.shape[0], dtype=x.dtype)
    support: list[int] = []
    u_prev = np.zeros(D.shape[0], dtype=x.dtype)  # previous direction (dense, for clarity)
    c_prev = None
    r = x.copy()
    it = 0
    while it < cap:
        if tol is not None and r @ r <= tol:
            break
        if len(support) >= n_nonzero_coefs:
            break
        c = D @ r
        s = _scores(c, norms, positive, normalize)
        s[support] = -np.inf
        j = int(np.argmax(s))
        if not s[j] > floor:
            break
        support.append(j)
        g = np.zeros_like(z)
        g[support] = D[support] @ r
        u, img = g, g[support] @ D[support]
        if conjugate and c_prev is not None:
            b = -(c_prev @ img) / (c_prev @ c_prev)
            u, img = g + b * u_prev, img + b * c_prev
        cc = img @ img
        if not cc > tiny:
            break
        step = (r @ img) / cc
        cut = False
        if positive:
            neg = [i for i in support if u[i] < 0]
            if neg:
                ratios = [z[i] / -u[i] for i in neg]
                m = int(np.argmin(ratios))
                if ratios[m] < step:
                    step, cut, blocker = ratios[m], True, neg[m]
        z = z + step * u
        r = r - step * img
        if cut:
            z[blocker] = 0.0
            z[z < 0] = 0.0
            support = [i for i in support if z[i] > 0]
            r = x - z @ D
        u_prev, c_prev = (u, img) if not cut else (np.zeros_like(z), None)
        it += 1
    return ReferenceResult(z, x - z @ D, it, False)


def acgp(x, D, n_nonzero_coefs, *, tol=None, positive=False, normalize=False, max_iter=None):
    """Run approximate conjugate gradient pursuit (Blumensath & Davies 2008) on one signal.

    Same parameters as :func:`gradient_pursuit` (which this calls with ``conjugate=True``).

    Returns
    -------
    ReferenceResult
    """
    return gradient_pursuit(
        x, D, n_nonzero_coefs, tol=tol, positive=positive, normalize=normalize,
        conjugate=True, max_iter=max_iter,
    )
