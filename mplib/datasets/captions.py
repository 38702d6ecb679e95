"""Captions for handwritten digits: templates over the label and attributes measured on the image.

The image–text data of the multimodal experiments (MP-SAE paper, Figs. 9 and 19) is COCO
with CLIP-like models, which cannot be installed offline; our substitute pairs MNIST digits
with synthetic captions. So that captions differ between images of the same digit, each
caption also names attributes *measured on its image*:

* **thickness**: the image's ink mass divided by the number of boundary pixels of its ink mask
  (pixels above half the image's maximum that have a 4-neighbour outside the mask): a bold
  stroke carries more ink per boundary pixel than a thin one;
* **slant**: the shear of the ink distribution, ``cov(col, row) / var(row)`` of the ink-weighted
  pixel coordinates (positive: the top leans right);
* **width**: the width of the ink's bounding box (columns holding ink above 0.2), in pixels
  (MNIST digits are scaled to a common height, so height says little).

Each attribute is cut into three bins at the tertiles of a reference set (the training images),
giving words such as "thin", "bold", "slanted to the right", "small". Five captions per image
come from seeded choices among templates that mix the digit's name or numeral with zero to
three attribute words.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mplib.repro import numpy_generator

__all__ = ["DIGIT_NAMES", "DigitAttributes", "class_prompts", "digit_attributes", "make_captions"]

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

_WORDS = {
    "thickness": ("thin", "regular", "bold"),
    "slant": ("slanted to the left", "upright", "slanted to the right"),
    "width": ("narrow", "medium-width", "wide"),
}

_TEMPLATES = (
    "a handwritten {name}",
    "the digit {digit} written by hand",
    "a {thickness} handwritten {name}",
    "a {width} {name}, {slant}",
    "the number {name} drawn with a {thickness} stroke",
    "a {width}, {thickness} {digit}",
    "a handwritten {digit}, {slant}",
    "a {thickness} {name} that is {slant}",
    "a {width} handwritten digit {digit}",
    "a {width}, {thickness} digit {name}, {slant}",
)


class DigitAttributes(NamedTuple):
    """Attributes measured on digit images (one value per image)."""

    thickness: np.ndarray
    """Ink mass per boundary pixel (larger: bolder strokes)."""
    slant: np.ndarray
    """``cov(col, row) / var(row)`` of the ink (positive: the top leans right)."""
    width: np.ndarray
    """Width in pixels of the columns holding ink above 0.2."""

    def bins(self, reference: DigitAttributes | None = None) -> np.ndarray:
        """Tertile bin (0, 1, 2) of each attribute, cut at ``reference``'s tertiles.

        Returns
        -------
        ndarray of shape (n_images, 3), int
            Columns: thickness, slant, width.
        """
        ref = self if reference is None else reference
        out = []
        for mine, theirs in zip(self, ref, strict=True):
            edges = np.quantile(theirs, [1 / 3, 2 / 3])
            out.append(np.searchsorted(edges, mine, side="right"))
        return np.stack(out, axis=1)


def digit_attributes(images: np.ndarray) -> DigitAttributes:
    """Measure thickness, slant and width of each digit image.

    Parameters
    ----------
    images : ndarray of shape (n, 784) or (n, 28, 28)
        Grey levels in [0, 1], ink bright.

    Returns
    -------
    DigitAttributes
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 784:
        x = x.reshape(-1, 28, 28)
    if x.ndim != 3:
        raise ValueError(f"images must have shape (n, 784) or (n, H, W), got {x.shape}")
    if len(x) == 0:
        raise ValueError("images must hold at least one image")
    n, h, w = x.shape
    mass = x.sum((1, 2))
    if np.any(mass <= 0):
        raise ValueError("images: every image needs some ink (a blank image has no attributes)")
    rows, cols = np.mgrid[0:h, 0:w]
    r_mean = (x * rows).sum((1, 2)) / mass
    c_mean = (x * cols).sum((1, 2)) / mass
    dr = rows[None] - r_mean[:, None, None]
    dc = cols[None] - c_mean[:, None, None]
    var_r = (x * dr * dr).sum((1, 2)) / mass
    cov_rc = (x * dr * dc).sum((1, 2)) / mass
    slant = -cov_rc / np.maximum(var_r, 1e-12)  # rows grow downwards: flip the sign
    ink = x > 0.5 * x.max((1, 2), keepdims=True)
    pad = np.pad(ink, ((0, 0), (1, 1), (1, 1)))
    interior = (pad[:, :-2, 1:-1] & pad[:, 2:, 1:-1] & pad[:, 1:-1, :-2] & pad[:, 1:-1, 2:])
    boundary = ink & ~interior
    thickness = mass / np.maximum(boundary.sum((1, 2)), 1)
    cols_with_ink = (x > 0.2).any(1)
    first = cols_with_ink.argmax(1)
    last = w - 1 - cols_with_ink[:, ::-1].argmax(1)
    width = (last - first + 1).astype(np.float64)
    return DigitAttributes(thickness, slant, width)


def make_captions(
    labels: np.ndarray,
    bins: np.ndarray,
    *,
    n_per_image: int = 5,
    seed: int | np.random.Generator = 0,
) -> list[list[str]]:
    """Five (``n_per_image``) captions per image from templates, label and attribute bins.

    Parameters
    ----------
    labels : ndarray of shape (n,), int in [0, 9]
    bins : ndarray of shape (n, 3), int in {0, 1, 2}
        From :meth:`DigitAttributes.bins` (thickness, slant, width).
    n_per_image : int, default=5
        Distinct templates per image (at most the number of templates, 10).
    seed : int or Generator, default=0

    Returns
    -------
    list of list of str
        ``captions[i]`` holds the captions of image ``i``.
    """
    labels = np.asarray(labels)
    bins = np.asarray(bins)
    if labels.ndim != 1 or labels.size == 0 or labels.min() < 0 or labels.max() > 9:
        raise ValueError("labels must be a non-empty 1-D array of digits 0-9")
    if bins.shape != (len(labels), 3) or bins.min() < 0 or bins.max() > 2:
        raise ValueError(f"bins must have shape ({len(labels)}, 3) with values 0-2, got "
                         f"{bins.shape}")
    if not 1 <= n_per_image <= len(_TEMPLATES):
        raise ValueError(f"n_per_image must lie in [1, {len(_TEMPLATES)}], got {n_per_image}")
    rng = numpy_generator(seed)
    out = []
    for label, (t, s, z) in zip(labels.tolist(), bins.tolist(), strict=True):
        words = {"name": DIGIT_NAMES[label], "digit": str(label),
                 "thickness": _WORDS["thickness"][t], "slant": _WORDS["slant"][s],
                 "width": _WORDS["width"][z]}
        picks = rng.choice(len(_TEMPLATES), size=n_per_image, replace=False)
        out.append([_TEMPLATES[j].format(**words) for j in picks])
    return out


def class_prompts() -> list[str]:
    """One prompt per digit for zero-shot classification: ``"a handwritten <name>"``."""
    return [_TEMPLATES[0].format(name=name) for name in DIGIT_NAMES]
