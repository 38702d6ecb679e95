"""Patch-based image denoising with a sparse dictionary (Elad & Aharon 2006), and PSNR.

For a noisy image ``y = x + n``, ``n ~ N(0, σ²)``, every overlapping ``p × p`` patch ``y_ij``
(stride 1 by default) loses its mean (the DC, kept aside and added back) and is coded by OMP
until its residual is small enough to be noise::

    α_ij = OMP(y_ij − mean(y_ij), D)  stopped at ‖y_ij − α_ij D‖² <= p² (C σ)²   (C = 1.15)
    x̂ = (λ y + Σ_ij R_ijᵀ (α_ij D + mean)) / (λ + Σ_ij R_ijᵀ R_ij)

where ``R_ij`` extracts patch ``ij`` and ``λ`` weighs the noisy image itself (Elad & Aharon's
``λ = 30/σ``, σ in grey levels of an 8-bit image). :func:`ksvd_denoise` learns ``D`` by K-SVD
on the noisy image's own patches first (their "adaptive dictionary" variant).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np

from mplib.dictionary._learn import _positive_int, ksvd
from mplib.pursuit import sparse_encode
from mplib.repro import numpy_generator

__all__ = [
    "DenoiseResult",
    "denoise_image",
    "extract_patches",
    "ksvd_denoise",
    "patch_grid",
    "psnr",
    "put_patches",
    "sklearn_denoise",
]

C_ELAD = 1.15  # Elad & Aharon 2006, Sec. IV: the gain C of the error threshold
_CHUNK = 32768  # patches coded at once: bounded memory on large images


class DenoiseResult(NamedTuple):
    """Result of :func:`denoise_image`, :func:`ksvd_denoise` and :func:`sklearn_denoise`."""

    image: np.ndarray
    """Denoised image, the shape of the input."""
    n_patches: int
    """Overlapping patches coded."""
    mean_atoms: float
    """Average number of atoms per patch."""
    seconds: float
    """Wall time of the whole call (learning included where there is learning)."""
    dictionary: np.ndarray | None = None
    """The dictionary used (n_atoms, p²), where the function learned one."""
    train_seconds: float = 0.0
    """The part of ``seconds`` spent learning the dictionary."""


def _check_image(image: Any, name: str, patch_size: int) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric 2-D array, got dtype {img.dtype}")
    if img.ndim != 2 or min(img.shape) < patch_size:
        raise ValueError(f"{name} must be a 2-D image at least {patch_size}×{patch_size}, "
                         f"got shape {img.shape}")
    img = img.astype(np.float64)
    if not np.isfinite(img).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return img


def _check_sigma(sigma: Any, name: str = "sigma") -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, int | float | np.floating):
        raise TypeError(f"{name} must be a positive float, got {sigma!r}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"{name} must be a finite float > 0, got {sigma}")
    return float(sigma)


def patch_grid(shape: tuple[int, int], patch_size: int, stride: int = 1):
    """Top-left corners of the patches: every ``stride``-th row/column, the last one included.

    Returns
    -------
    rows, cols : ndarray of int
        Corner coordinates along each axis (the grid is their product).
    """
    p, s = _positive_int(patch_size, "patch_size"), _positive_int(stride, "stride")
    axes = []
    for n in shape:
        a = np.arange(0, n - p + 1, s)
        if a[-1] != n - p:
            a = np.append(a, n - p)
        axes.append(a)
    return axes[0], axes[1]


def extract_patches(image: np.ndarray, patch_size: int = 8, stride: int = 1) -> np.ndarray:
    """All ``patch_size²`` patches on the :func:`patch_grid`, one per row (row-major order).

    Returns
    -------
    ndarray of shape (len(rows) · len(cols), patch_size**2)
    """
    rows, cols = patch_grid(image.shape, patch_size, stride)
    win = np.lib.stride_tricks.sliding_window_view(image, (patch_size, patch_size))
    return win[np.ix_(rows, cols)].reshape(len(rows) * len(cols), patch_size * patch_size)


def put_patches(patches: np.ndarray, shape, patch_size: int, stride: int = 1):
    """Sum patches back onto the image grid; returns the sum and the per-pixel count."""
    rows, cols = patch_grid(shape, patch_size, stride)
    P = patches.reshape(len(rows), len(cols), patch_size, patch_size)
    total = np.zeros(shape)
    count = np.zeros(shape)
    for i in range(patch_size):
        for j in range(patch_size):
            ix = np.ix_(rows + i, cols + j)  # corners distinct: no repeated index per (i, j)
            total[ix] += P[:, :, i, j]
            count[ix] += 1.0
    return total, count


def denoise_image(
    noisy: Any,
    dictionary: Any,
    *,
    sigma: float | None = None,
    k: int | None = None,
    gain: float = C_ELAD,
    patch_size: int = 8,
    stride: int = 1,
    lam: float | None = None,
) -> DenoiseResult:
    """Denoise an image by sparse coding its overlapping, mean-removed patches over a dictionary.

    Parameters
    ----------
    noisy : array_like of shape (height, width)
        Noisy grey image (any range; ``sigma`` in the same units).
    dictionary : array_like of shape (n_atoms, patch_size**2)
        Atoms as rows (unit norm expected, e.g. :func:`mplib.dictionary.overcomplete_dct` or a
        K-SVD dictionary), for mean-removed patches.
    sigma : float, optional
        Noise standard deviation. Codes stop at ``‖r‖² <= patch_size² · (gain · sigma)²``.
    k : int, optional
        Atoms per patch (a cap when ``sigma`` is given too). At least one of ``sigma``, ``k``.
    gain : float, default=1.15
        Elad & Aharon's ``C``.
    patch_size : int, default=8
        Side of the square patches.
    stride : int, default=1
        Step between patch corners (the last row/column of corners is always included).
    lam : float, optional
        Weight of the noisy image in the average. None means ``30 / (255 · sigma)`` (Elad &
        Aharon's ``30/σ`` for an image in [0, 1]; our reading) with ``sigma``, else 0.

    Returns
    -------
    DenoiseResult

    Raises
    ------
    ValueError
        A bad shape, non-finite pixels, a dictionary whose atom length is not
        ``patch_size**2``, or neither ``sigma`` nor ``k``.

    Notes
    -----
    Elad & Aharon, "Image denoising via sparse and redundant representations over learned
    dictionaries", IEEE TIP 15(12), 2006, Sec. III (Eq. 10: the averaging with ``λ``) and
    Sec. IV (``C = 1.15``). Our choice: patch means are removed before coding (the DC is
    not part of the dictionary).

    Examples
    --------
    >>> from mplib.dictionary import overcomplete_dct
    >>> rng = np.random.default_rng(0)
    >>> clean = np.outer(np.linspace(0, 1, 32), np.ones(32))
    >>> noisy = clean + 0.1 * rng.standard_normal(clean.shape)
    >>> out = denoise_image(noisy, overcomplete_dct(8, 256), sigma=0.1)
    >>> bool(psnr(clean, out.image) > psnr(clean, noisy) + 5)
    True
    """
    t0 = time.perf_counter()
    p = _positive_int(patch_size, "patch_size")
    img = _check_image(noisy, "noisy", p)
    D = np.asarray(dictionary, dtype=np.float64)
    if D.ndim != 2 or D.shape[1] != p * p:
        raise ValueError(f"dictionary must have shape (n_atoms, {p * p}) for patch_size={p}, "
                         f"got {D.shape}")
    if not np.isfinite(D).all():
        raise ValueError("dictionary must be finite")
    if sigma is None and k is None:
        raise ValueError("sigma and k are both None: give the noise level sigma, k, or both")
    tol = None
    if sigma is not None:
        sigma = _check_sigma(sigma)
        tol = p * p * (_check_sigma(gain, "gain") * sigma) ** 2
    if k is not None:
        k = _positive_int(k, "k")
    if lam is None:
        lam = 30.0 / (255.0 * sigma) if sigma is not None else 0.0
    elif isinstance(lam, bool) or not isinstance(lam, int | float) or not lam >= 0:
        raise ValueError(f"lam must be a float >= 0 or None, got {lam!r}")
    P = extract_patches(img, p, stride)
    out = np.empty_like(P)
    atoms = 0
    for lo in range(0, len(P), _CHUNK):
        chunk = P[lo: lo + _CHUNK]
        dc = chunk.mean(1, keepdims=True)
        res = sparse_encode(chunk - dc, D, n_nonzero_coefs=k, tol=tol, return_sparse=True)
        out[lo: lo + _CHUNK] = chunk - res.residual  # x̂ = (x − dc) − r + dc
        atoms += int(res.n_iter.sum())
    total, count = put_patches(out, img.shape, p, stride)
    image = (lam * img + total) / (lam + count)
    return DenoiseResult(image, len(P), atoms / len(P), time.perf_counter() - t0)


def ksvd_denoise(
    noisy: Any,
    *,
    sigma: float,
    n_atoms: int = 256,
    n_train: int = 40000,
    n_iter: int = 10,
    patch_size: int = 8,
    gain: float = C_ELAD,
    stride: int = 1,
    seed: Any = 0,
    init: Any = "dct",
    coder: str = "mplib",
) -> DenoiseResult:
    """Learn a K-SVD dictionary on the noisy image's own patches, then :func:`denoise_image`.

    ``n_train`` patches are drawn at random (seeded) from the overlapping patches of
    ``noisy``, their means removed; K-SVD codes them with the same error threshold as the
    denoising step, starting from the overcomplete DCT.

    Parameters
    ----------
    noisy : array_like of shape (height, width)
        Noisy grey image.
    sigma : float
        Noise standard deviation, units of the image.
    n_atoms : int, default=256
        Dictionary size.
    n_train : int, default=40000
        Training patches (all of them when the image has fewer).
    n_iter : int, default=10
        K-SVD iterations.
    patch_size, gain, stride
        As in :func:`denoise_image`.
    seed : int or numpy.random.Generator, default=0
        Seeds the patch draw and K-SVD.
    init : {"dct", "data"} or array, default="dct"
        Initial dictionary for :func:`mplib.dictionary.ksvd`.
    coder : {"mplib", "sklearn"}, default="mplib"
        Sparse coder of the K-SVD training.

    Returns
    -------
    DenoiseResult
        With ``dictionary`` and ``train_seconds``.

    Notes
    -----
    Elad & Aharon, IEEE TIP 15(12), 2006, Sec. IV ("adaptive dictionary": K-SVD on the
    corrupted image itself).
    """
    t0 = time.perf_counter()
    p = _positive_int(patch_size, "patch_size")
    img = _check_image(noisy, "noisy", p)
    sigma = _check_sigma(sigma)
    n_train = _positive_int(n_train, "n_train")
    rng = numpy_generator(seed)
    P = extract_patches(img, p, 1)
    if n_train < len(P):
        P = P[np.sort(rng.choice(len(P), size=n_train, replace=False))]
    P = P - P.mean(1, keepdims=True)
    tol = p * p * (_check_sigma(gain, "gain") * sigma) ** 2
    learned = ksvd(P, n_atoms, tol=tol, n_iter=n_iter, seed=rng, init=init, coder=coder)
    t1 = time.perf_counter()
    out = denoise_image(img, learned.dictionary, sigma=sigma, gain=gain, patch_size=p,
                        stride=stride)
    return out._replace(seconds=time.perf_counter() - t0, dictionary=learned.dictionary,
                        train_seconds=t1 - t0)


def sklearn_denoise(
    noisy: Any,
    *,
    n_atoms: int = 256,
    n_train: int = 40000,
    n_nonzero_coefs: int = 2,
    patch_size: int = 8,
    alpha: float = 1.0,
    batch_size: int = 200,
    max_iter: int = 10,
    seed: int = 0,
) -> DenoiseResult:
    """scikit-learn's "Image denoising using dictionary learning" recipe, on the whole image.

    As in scikit-learn's example: ``n_train`` random patches of the noisy image, each pixel
    standardised over the patches (mean and standard deviation per pixel position), train
    ``MiniBatchDictionaryLearning(n_components=n_atoms, alpha, batch_size, max_iter)``; then
    every overlapping patch, minus the per-pixel mean over patches, is coded by OMP with
    ``n_nonzero_coefs`` atoms, the mean added back, and overlaps averaged by
    ``reconstruct_from_patches_2d``. Differences from the example: it trains and denoises
    the same (whole) image, with ``n_train`` patches, so that it sees the patches mplib's
    K-SVD sees.

    Parameters
    ----------
    noisy : array_like of shape (height, width)
        Noisy grey image.
    n_atoms : int, default=256
        ``n_components``.
    n_train : int, default=40000
        Training patches.
    n_nonzero_coefs : int, default=2
        ``transform_n_nonzero_coefs`` (the example's best transform).
    patch_size : int, default=8
        Side of the square patches.
    alpha, batch_size, max_iter
        ``MiniBatchDictionaryLearning`` options (the example's values).
    seed : int, default=0
        ``random_state`` of the patch draw and of the learner.

    Returns
    -------
    DenoiseResult
        With ``dictionary`` (``components_``) and ``train_seconds``.
    """
    from sklearn.decomposition import MiniBatchDictionaryLearning
    from sklearn.feature_extraction.image import (
        extract_patches_2d,
        reconstruct_from_patches_2d,
    )

    t0 = time.perf_counter()
    p = _positive_int(patch_size, "patch_size")
    img = _check_image(noisy, "noisy", p)
    data = extract_patches_2d(img, (p, p), max_patches=_positive_int(n_train, "n_train"),
                              random_state=seed).reshape(-1, p * p)
    data = data - data.mean(0)
    data /= np.maximum(data.std(0), 1e-12)
    dico = MiniBatchDictionaryLearning(n_components=_positive_int(n_atoms, "n_atoms"),
                                       alpha=alpha, batch_size=batch_size, max_iter=max_iter,
                                       random_state=seed)
    V = dico.fit(data).components_
    t1 = time.perf_counter()
    data = extract_patches_2d(img, (p, p)).reshape(-1, p * p)
    intercept = data.mean(0)
    dico.set_params(transform_algorithm="omp",
                    transform_n_nonzero_coefs=_positive_int(n_nonzero_coefs, "n_nonzero_coefs"))
    code = dico.transform(data - intercept)
    patches = (code @ V + intercept).reshape(-1, p, p)
    image = reconstruct_from_patches_2d(patches, img.shape)
    mean_atoms = float((code != 0).sum(1).mean())
    return DenoiseResult(image, len(data), mean_atoms, time.perf_counter() - t0, V, t1 - t0)


def psnr(clean: Any, estimate: Any, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range² / MSE)`` in dB.

    Parameters
    ----------
    clean, estimate : array_like of the same shape
        Reference and estimate.
    data_range : float, default=1.0
        Peak value (1 for images in [0, 1], 255 for 8-bit grey levels).

    Returns
    -------
    float
        ``inf`` when the two are equal.

    Examples
    --------
    >>> round(psnr(np.zeros(4), np.full(4, 0.1)), 6)
    20.0
    """
    a = np.asarray(clean, dtype=np.float64)
    b = np.asarray(estimate, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"clean and estimate must have the same shape, got {a.shape} and "
                         f"{b.shape}")
    data_range = _check_sigma(data_range, "data_range")
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(data_range**2 / mse))
