"""Modality selectivity of latents in a joint image–text space (Figs. 9, 19).

Our definition (the paper's formula is not recoverable), after
Papadimitriou et al. (arXiv 2504.11695): the share of a latent's activation energy that comes
from images, with the text energy divided by the number of captions per image so that a latent
firing equally on an image and on each of its captions scores 0.5.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from mplib.metrics._validation import (
    as_tensor,
    check_nonneg_float,
    chunk_rows,
    same_device,
    to_output,
)

__all__ = ["ModalityScores", "modality_gap", "modality_score"]


@dataclasses.dataclass(frozen=True)
class ModalityScores:
    """Per-latent modality scores (1 = image only, 0 = text only)."""

    score: np.ndarray
    """(..., n_latents): ``E_img / (E_img + E_txt)``; NaN for dead latents (see ``alive``)."""
    alive: np.ndarray
    """(..., n_latents) bool: latents that fire on at least one image or caption."""
    image_energy: np.ndarray
    """(..., n_latents): ``E_img = Σ_images z²``."""
    text_energy: np.ndarray
    """(..., n_latents): ``E_txt = (1/c) Σ_captions z²``."""
    captions_per_image: float
    """The ``c`` used."""

    @property
    def values(self) -> np.ndarray:
        """Scores of the live latents only (all runs pooled), the histogram's input."""
        return self.score[self.alive]


def _energy(z: torch.Tensor) -> torch.Tensor:
    n, p = z.shape[-2:]
    step = chunk_rows(n, p * max(1, z.shape[:-2].numel()))
    total = torch.zeros(z.shape[:-2] + (p,), dtype=torch.float64, device=z.device)
    for s in range(0, n, step):
        total = total + z[..., s : s + step, :].double().square().sum(dim=-2)
    return total


def modality_score(
    image_codes: Any,
    text_codes: Any,
    *,
    captions_per_image: float | None = None,
    tol: float = 0.0,
) -> ModalityScores:
    """Share of each latent's activation energy that comes from images.

    ``E_img = Σ_images z_j²``, ``E_txt = (1/c) Σ_captions z_j²``,
    ``score_j = E_img / (E_img + E_txt)``; dead latents (never ``|z| > tol`` on either
    modality) get NaN and are left out of :attr:`ModalityScores.values`.

    Parameters
    ----------
    image_codes : array_like or Tensor of shape (..., n_images, n_latents)
        Codes of the image embeddings.
    text_codes : array_like or Tensor of shape (..., n_captions, n_latents)
        Codes of the caption embeddings; leading dimensions broadcast.
    captions_per_image : float, default=None
        ``c``; None means ``n_captions / n_images`` (5 for COCO-style data with five
        captions per image, the spec's value).
    tol : float, default=0.0
        A latent is alive when some ``|z| > tol``.

    Returns
    -------
    ModalityScores

    Examples
    --------
    >>> img = np.array([[1.0, 0.0, 1.0, 0.0]])
    >>> txt = np.array([[0.0, 2.0, 1.0, 0.0]] * 5)
    >>> modality_score(img, txt).score
    array([1. , 0. , 0.5, nan])
    """
    zi = as_tensor(image_codes, "image_codes", min_ndim=2, float64=False)
    zt = same_device(as_tensor(text_codes, "text_codes", min_ndim=2, float64=False), zi)
    if zi.shape[-1] != zt.shape[-1]:
        raise ValueError(
            f"image_codes and text_codes must have the same number of latents, got "
            f"{tuple(zi.shape)} and {tuple(zt.shape)}"
        )
    try:
        lead = torch.broadcast_shapes(zi.shape[:-2], zt.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the leading dimensions of image_codes {tuple(zi.shape)} and text_codes "
            f"{tuple(zt.shape)} do not broadcast"
        ) from None
    if captions_per_image is None:
        c = zt.shape[-2] / zi.shape[-2]
    else:
        c = check_nonneg_float(captions_per_image, "captions_per_image")
        if c == 0:
            raise ValueError("captions_per_image must be > 0, got 0")
    tol = check_nonneg_float(tol, "tol")
    e_img = _energy(zi).expand(lead + zi.shape[-1:])
    e_txt = (_energy(zt) / c).expand(lead + zi.shape[-1:])
    alive = (zi.abs() > tol).any(dim=-2) | (zt.abs() > tol).any(dim=-2)
    alive = alive.expand(lead + zi.shape[-1:])
    total = e_img + e_txt
    score = torch.where(alive & (total > 0), e_img / total.clamp_min(1e-300), torch.nan)
    return ModalityScores(
        score=to_output(score),
        alive=to_output(alive),
        image_energy=to_output(e_img),
        text_energy=to_output(e_txt),
        captions_per_image=float(c),
    )


def modality_gap(image_embeddings: Any, text_embeddings: Any) -> float | np.ndarray:
    """Distance between the centroids of the two modalities, ``‖mean(img) − mean(txt)‖``.

    Reported next to the modality histogram of a substitute joint space.

    Parameters
    ----------
    image_embeddings : array_like or Tensor of shape (..., n_images, n_features)
        Image embeddings, one per row.
    text_embeddings : array_like or Tensor of shape (..., n_captions, n_features)
        Caption embeddings; leading dimensions broadcast.

    Returns
    -------
    float or ndarray of shape (...)

    Examples
    --------
    >>> modality_gap(np.array([[1.0, 0.0], [1.0, 2.0]]), np.array([[-2.0, 1.0]]))
    3.0
    """
    xi = as_tensor(image_embeddings, "image_embeddings", min_ndim=2)
    xt = same_device(as_tensor(text_embeddings, "text_embeddings", min_ndim=2), xi)
    if xi.shape[-1] != xt.shape[-1]:
        raise ValueError(
            f"image_embeddings and text_embeddings must have the same width, got "
            f"{tuple(xi.shape)} and {tuple(xt.shape)}"
        )
    try:
        gap = xi.mean(dim=-2) - xt.mean(dim=-2)
    except RuntimeError:
        raise ValueError(
            f"the leading dimensions of image_embeddings {tuple(xi.shape)} and "
            f"text_embeddings {tuple(xt.shape)} do not broadcast"
        ) from None
    return to_output(gap.norm(dim=-1))
