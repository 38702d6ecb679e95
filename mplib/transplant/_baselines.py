"""Baseline approximations of new rows (torch, inputs validated by :mod:`.approx`).

Every function maps donor-space targets ``T`` (B, D_d), the anchors' donor rows ``A`` (N, D_d)
and their base rows ``Bm`` (N, D_b) to base-space rows (B, D_b), and returns
``(rows, indices, coefs)`` where the rows are sparse combinations of anchors (else the last two
are None). Definitions are those of mergekit's ``tokensurgeon`` (``common_interpolation.py``,
``pca.py``) unless marked "ours".
"""

from __future__ import annotations

import torch

__all__ = [
    "common_interpolation",
    "focus_like",
    "john_hewitt",
    "knn_softmax",
    "landmark_pca",
    "linear_map",
    "procrustes",
    "sparsemax",
]


def _unit(X: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    n = torch.linalg.vector_norm(X, dim=-1, keepdim=True)
    return X / n.clamp_min(eps) if eps else torch.where(n > 0, X / n.where(n > 0, 1.0), 0.0)


def _combine(w: torch.Tensor, idx: torch.Tensor, Bm: torch.Tensor) -> torch.Tensor:
    """``rows[b] = Σ_s w[b, s] · Bm[idx[b, s]]`` without a (B, s, D_b) temporary per call."""
    return torch.einsum("bs,bsd->bd", w, Bm[idx])


def _batches(n: int, batch_size: int):
    for lo in range(0, n, batch_size):
        yield slice(lo, min(lo + batch_size, n))


def knn_softmax(T, A, Bm, *, k: int, temperature: float, batch_size: int):
    """K nearest anchors by cosine in donor space, weights ``softmax(cos / temperature)`` (ours).

    The "kNN" of the pilot measurements (k = 32, τ = 0.1); weights sum to 1.
    """
    An = _unit(A)
    rows, inds, coefs = [], [], []
    for s in _batches(T.shape[0], batch_size):
        sim = _unit(T[s]) @ An.T
        val, idx = sim.topk(k, dim=1)
        w = torch.softmax(val / temperature, dim=1)
        rows.append(_combine(w, idx, Bm))
        inds.append(idx)
        coefs.append(w)
    return torch.cat(rows), torch.cat(inds), torch.cat(coefs)


def _barycentric(t: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Mergekit's sum-to-one least squares through an augmented system (one batch)."""
    b, m, _ = P.shape
    ptp = torch.bmm(P, P.transpose(1, 2))
    upper = torch.cat([ptp, P.new_ones(b, m, 1)], dim=2)
    lower = torch.cat([P.new_ones(b, 1, m), P.new_zeros(b, 1, 1)], dim=2)
    M = torch.cat([upper, lower], dim=1)
    rhs = torch.cat([torch.bmm(t.unsqueeze(1), P.transpose(1, 2)).squeeze(1),
                     P.new_ones(b, 1)], dim=1)
    return torch.linalg.lstsq(M, rhs.unsqueeze(-1)).solution.squeeze(-1)[..., :m]


def common_interpolation(T, A, Bm, *, k: int, metric: str, weight_scheme: str,
                         batch_size: int):
    """Mergekit's ``common_interpolation``: k nearest anchors, then a weighting.

    ``metric``: ``"euclidean"`` (distance) or ``"cosine"`` (1 − cosine). ``weight_scheme``:
    ``"distance_proportional"`` (1/distance normalised to sum 1; with cosine the similarities
    normalised), ``"barycentric"`` (least squares with a sum-to-one constraint) or
    ``"least_squares"`` (plain least squares on the neighbours).
    """
    rows, inds, coefs = [], [], []
    if metric == "cosine":
        A_norm = torch.linalg.vector_norm(A, dim=1, keepdim=True)
    for s in _batches(T.shape[0], batch_size):
        t = T[s]
        if metric == "euclidean":
            dist = torch.cdist(t, A, p=2)
        else:
            t_norm = torch.linalg.vector_norm(t, dim=1, keepdim=True)
            dist = 1 - (t @ A.T) / (t_norm * A_norm.T).clamp(min=1e-6)
        knn, idx = torch.topk(dist, k=k, dim=1, largest=False)
        if weight_scheme == "distance_proportional":
            w = 1 - knn if metric == "cosine" else 1 / knn.clamp_min(1e-6)
            w = w / w.sum(dim=1, keepdim=True).clamp_min(1e-6)
        elif weight_scheme == "barycentric":
            w = _barycentric(t, A[idx])
        else:
            w = torch.linalg.lstsq(A[idx].transpose(1, 2), t.unsqueeze(-1)).solution.squeeze(-1)
        rows.append(_combine(w, idx, Bm))
        inds.append(idx)
        coefs.append(w)
    return torch.cat(rows), torch.cat(inds), torch.cat(coefs)


def linear_map(T, A, Bm, *, affine: bool):
    """Global least-squares map from donor to base space, fitted on the anchors (ours).

    ``affine=True`` fits ``[A, 1] W ≈ Bm`` (a bias row), else ``A W ≈ Bm``.
    """
    if affine:
        A = torch.cat([A, A.new_ones(A.shape[0], 1)], dim=1)
        T = torch.cat([T, T.new_ones(T.shape[0], 1)], dim=1)
    # lstsq through an SVD-based driver: A may be rank deficient (duplicate rows, D_d > N)
    W = torch.linalg.pinv(A) @ Bm
    return T @ W


def procrustes(T, A, Bm):
    """Scaled orthogonal Procrustes map between the centred anchor sets (ours).

    ``R = U Vᵀ`` from ``U S Vᵀ = svd(Aᶜᵀ Bᶜ)`` (D_d × D_b, orthonormal rows or columns) and
    ``s = trace(S) / ‖Aᶜ‖²`` minimise ``‖s Aᶜ R − Bᶜ‖``; a target maps to
    ``s (t − μ_A) R + μ_B``.
    """
    mu_a, mu_b = A.mean(0), Bm.mean(0)
    Ac, Bc = A - mu_a, Bm - mu_b
    U, S, Vh = torch.linalg.svd(Ac.T @ Bc, full_matrices=False)
    R = U @ Vh
    scale = S.sum() / (Ac * Ac).sum().clamp_min(torch.finfo(A.dtype).tiny)
    return scale * (T - mu_a) @ R + mu_b


def landmark_pca(T, A, Bm, *, as_released: bool):
    """Mergekit's ``landmark_pca``, with the Procrustes map corrected unless ``as_released``.

    Centre both anchor sets, take the principal axes of each at width ``q = min(D_d, D_b)``,
    fit an orthogonal map between the PCA coordinates, map the centred target, add the base
    anchor mean. mergekit takes ``U S Vᵀ = svd(B_pcaᵀ A_pca)`` and maps ``A_pca (U Vᵀ)``: the
    transpose of the least-squares orthogonal map for row vectors, ``R = V Uᵀ``
    (``as_released=True`` keeps mergekit's). Ours uses an exact SVD for the PCA (mergekit: the
    randomised ``torch.pca_lowrank``), so the result is deterministic.
    """
    q = min(A.shape[1], Bm.shape[1])
    mu_a, mu_b = A.mean(0), Bm.mean(0)
    Ac, Bc = A - mu_a, Bm - mu_b
    Va = torch.linalg.svd(Ac, full_matrices=False).Vh[:q].T
    Vb = torch.linalg.svd(Bc, full_matrices=False).Vh[:q].T
    A_pca, B_pca = Ac @ Va, Bc @ Vb
    U, _, Vh = torch.linalg.svd(B_pca.T @ A_pca)
    R = U @ Vh if as_released else Vh.T @ U.T
    return ((T - mu_a) @ Va) @ R @ Vb.T + mu_b


def sparsemax(Z: torch.Tensor) -> torch.Tensor:
    """Return the sparsemax of each row (Martins & Astudillo, ICML 2016).

    The Euclidean projection onto the probability simplex: weights sum to 1, most are exactly 0.
    """
    zs, _ = torch.sort(Z, dim=1, descending=True)
    r = torch.arange(1, Z.shape[1] + 1, dtype=Z.dtype, device=Z.device)
    cs = zs.cumsum(1)
    support = (1 + r * zs) > cs
    kz = support.sum(1, keepdim=True)
    tau = (cs.gather(1, kz - 1) - 1) / kz.to(Z.dtype)
    return (Z - tau).clamp_min(0)


def focus_like(S_t, S_a, Bm, *, batch_size: int, generator: torch.Generator):
    """FOCUS-like convex weights: sparsemax over cosines to all anchors in a similarity space.

    FOCUS (Dobler & de Melo, EMNLP 2023) uses an auxiliary fastText space; here the space is
    whatever the caller passes (by default the donor rows). A target whose similarity vector is
    zero (no vector in the auxiliary space) gets N(mean, std) of the base anchor rows, per
    dimension, from ``generator``.
    """
    San = _unit(S_a)
    mu, sd = Bm.mean(0), Bm.std(0)
    rows, w_all = [], []
    for s in _batches(S_t.shape[0], batch_size):
        t = S_t[s]
        w = sparsemax(_unit(t) @ San.T)
        r = w @ Bm
        missing = torch.linalg.vector_norm(t, dim=1) == 0
        if bool(missing.any()):
            noise = torch.randn(int(missing.sum()), Bm.shape[1], generator=generator,
                                dtype=Bm.dtype).to(Bm.device)
            r[missing] = mu + sd * noise
            w[missing] = 0
        rows.append(r)
        w_all.append(w)
    width = max(int((w > 0).sum(1).max()) if w.numel() else 0 for w in w_all) if w_all else 0
    inds, coefs = [], []
    for w in w_all:
        val, idx = w.topk(max(width, 1), dim=1) if w.shape[1] else (w, w.long())
        inds.append(torch.where(val > 0, idx, 0))
        coefs.append(val)
    return torch.cat(rows), torch.cat(inds)[:, :width], torch.cat(coefs)[:, :width]


def john_hewitt(n: int, base_all: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Rows sampled from N(μ, Σ) fitted to all base rows (mergekit's ``john_hewitt``).

    mergekit's fallback for a covariance that is not positive definite fails (it calls
    ``len()`` on an int); ours falls back to ``0.02 · N(0, I)``, the small Gaussian it meant.
    """
    X = base_all.to(torch.float64)
    mu = X.mean(0)
    Xc = X - mu
    cov = Xc.T @ Xc / X.shape[0]
    L, info = torch.linalg.cholesky_ex(cov)
    z = torch.randn(n, X.shape[1], generator=generator, dtype=torch.float64)
    if int(info) != 0:
        return (0.02 * z).to(base_all.dtype)
    return (mu + z @ L.T).to(base_all.dtype)
