"""One denoising comparison: mplib K-SVD, scikit-learn's recipe, wavelet and TV, timed alike."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np

from mplib.dictionary.denoise import _check_image, _check_sigma, ksvd_denoise, psnr, sklearn_denoise
from mplib.repro import numpy_generator

__all__ = ["METHODS", "DenoiseRow", "add_noise", "compare_denoisers"]

METHODS = ("mplib_ksvd", "sklearn_recipe", "wavelet", "tv")
TV_FACTORS = (0.5, 0.75, 1.0, 1.5, 2.0)  # TV weight = factor · σ; the best PSNR is kept


class DenoiseRow(NamedTuple):
    """One method on one noisy image."""

    method: str
    """One of :data:`METHODS`."""
    psnr: float
    """PSNR (dB) of the output against the clean image (peak 1)."""
    seconds: float
    """Wall time of the method (learning included)."""
    image: np.ndarray
    """The denoised image."""
    detail: dict
    """Method settings and extra numbers (atoms per patch, TV weight, ...)."""


def add_noise(clean: Any, sigma: float, *, seed: Any = 0) -> np.ndarray:
    """Return ``clean + sigma · N(0, 1)`` (seeded, not clipped: the model the methods assume)."""
    img = _check_image(clean, "clean", 1)
    return img + _check_sigma(sigma) * numpy_generator(seed).standard_normal(img.shape)


def compare_denoisers(
    clean: Any,
    noisy: Any,
    *,
    sigma: float,
    n_atoms: int = 256,
    n_train: int = 40000,
    n_iter: int = 10,
    sklearn_iter: int = 10,
    methods: tuple[str, ...] = METHODS,
    seed: int = 0,
) -> list[DenoiseRow]:
    """Denoise ``noisy`` with each method and score it against ``clean``.

    Parameters
    ----------
    clean, noisy : array_like of shape (height, width)
        The clean image (in [0, 1]) and its noisy version.
    sigma : float
        Noise standard deviation (given to every method that takes it).
    n_atoms, n_train : int
        Dictionary size and training patches, the same for mplib's K-SVD and scikit-learn's
        recipe (equal patch count).
    n_iter : int, default=10
        K-SVD iterations.
    sklearn_iter : int, default=10
        ``max_iter`` of scikit-learn's ``MiniBatchDictionaryLearning`` (epochs).
    methods : tuple of str, default=METHODS
        ``"mplib_ksvd"`` (:func:`mplib.dictionary.ksvd_denoise`), ``"sklearn_recipe"``
        (:func:`mplib.dictionary.sklearn_denoise`), ``"wavelet"``
        (``skimage.restoration.denoise_wavelet``, BayesShrink, soft, the known σ) and
        ``"tv"`` (``denoise_tv_chambolle``, weight ``f · σ`` for the ``f`` in ``TV_FACTORS``
        with the best PSNR: an oracle choice, in TV's favour; the time is one run).
    seed : int, default=0
        Seeds the learned methods.

    Returns
    -------
    list of DenoiseRow
        One per method, in the order asked.
    """
    from skimage.restoration import denoise_tv_chambolle, denoise_wavelet

    clean = _check_image(clean, "clean", 1)
    noisy = _check_image(noisy, "noisy", 8)
    if clean.shape != noisy.shape:
        raise ValueError(f"clean and noisy must have the same shape, got {clean.shape} and "
                         f"{noisy.shape}")
    sigma = _check_sigma(sigma)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty tuple from {METHODS}, got {methods!r}")
    rows = []
    for m in methods:
        if m == "mplib_ksvd":
            out = ksvd_denoise(noisy, sigma=sigma, n_atoms=n_atoms, n_train=n_train,
                               n_iter=n_iter, seed=seed)
            rows.append(DenoiseRow(m, psnr(clean, out.image), out.seconds, out.image, dict(
                atoms_per_patch=out.mean_atoms, train_seconds=out.train_seconds,
                n_patches=out.n_patches, n_iter=n_iter, n_atoms=n_atoms, n_train=n_train)))
        elif m == "sklearn_recipe":
            out = sklearn_denoise(noisy, n_atoms=n_atoms, n_train=n_train,
                                  max_iter=sklearn_iter, seed=seed)
            rows.append(DenoiseRow(m, psnr(clean, out.image), out.seconds, out.image, dict(
                atoms_per_patch=out.mean_atoms, train_seconds=out.train_seconds,
                n_patches=out.n_patches, max_iter=sklearn_iter, n_atoms=n_atoms,
                n_train=n_train)))
        elif m == "wavelet":
            t0 = time.perf_counter()
            img = denoise_wavelet(noisy, sigma=sigma, method="BayesShrink", mode="soft",
                                  rescale_sigma=True)
            rows.append(DenoiseRow(m, psnr(clean, img), time.perf_counter() - t0, img,
                                   dict(shrinkage="BayesShrink", mode="soft")))
        else:
            best = None
            for f in TV_FACTORS:
                t0 = time.perf_counter()
                img = denoise_tv_chambolle(noisy, weight=f * sigma)
                dt = time.perf_counter() - t0
                score = psnr(clean, img)
                if best is None or score > best[0]:
                    best = (score, dt, img, f)
            rows.append(DenoiseRow(m, best[0], best[1], best[2],
                                   dict(weight=best[3] * sigma, weight_factor=best[3],
                                        grid=list(TV_FACTORS))))
    return rows
