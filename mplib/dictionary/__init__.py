"""Dictionary learning (MOD, K-SVD) with mplib's OMP, and patch-based image denoising.

:func:`ksvd` and :func:`mod` learn a dictionary by alternating OMP sparse coding
(:func:`mplib.pursuit.sparse_encode`) and dictionary updates; :func:`denoise_image` codes every
overlapping patch of a noisy image over a dictionary (Elad & Aharon 2006) and
:func:`ksvd_denoise` learns that dictionary on the image first; :func:`sklearn_denoise` is
scikit-learn's recipe, :func:`compare_denoisers` times them against wavelet and TV denoising.
"""

from mplib.dictionary._learn import DictionaryLearningResult, ksvd, mod, overcomplete_dct
from mplib.dictionary.compare import METHODS, DenoiseRow, add_noise, compare_denoisers
from mplib.dictionary.denoise import (
    DenoiseResult,
    denoise_image,
    extract_patches,
    ksvd_denoise,
    psnr,
    put_patches,
    sklearn_denoise,
)

__all__ = [
    "METHODS",
    "DenoiseResult",
    "DenoiseRow",
    "DictionaryLearningResult",
    "add_noise",
    "compare_denoisers",
    "denoise_image",
    "extract_patches",
    "ksvd",
    "ksvd_denoise",
    "mod",
    "overcomplete_dct",
    "psnr",
    "put_patches",
    "sklearn_denoise",
]
