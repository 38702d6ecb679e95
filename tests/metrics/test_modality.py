"""Modality score on a synthetic two-modality embedding with known selective latents."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.metrics import modality_gap, modality_score

N_CONCEPTS, N_IMAGES, CAPTIONS = 6, 120, 5


@pytest.fixture(scope="module")
def two_modalities():
    """Shared concept + modality offset + noise; codes = ReLU of projections on known atoms.

    Latents 0–5 read the concepts (shared by an image and its captions), latent 6 the image
    offset, latent 7 the text offset, latent 8 points away from everything (never fires).
    """
    rng = np.random.default_rng(0)
    d = 16
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    concepts, o_img, o_txt = basis[:N_CONCEPTS], basis[N_CONCEPTS], basis[N_CONCEPTS + 1]
    labels = rng.integers(0, N_CONCEPTS, size=N_IMAGES)
    img = concepts[labels] + o_img + 0.05 * rng.normal(size=(N_IMAGES, d))
    cap_labels = np.repeat(labels, CAPTIONS)
    txt = concepts[cap_labels] + o_txt + 0.05 * rng.normal(size=(N_IMAGES * CAPTIONS, d))
    atoms = np.concatenate([concepts, o_img[None], o_txt[None], -(o_img + o_txt)[None]])
    return {
        "image": img,
        "text": txt,
        "image_codes": np.maximum(img @ atoms.T, 0),
        "text_codes": np.maximum(txt @ atoms.T, 0),
    }


def test_selective_and_shared_latents(two_modalities):
    res = modality_score(two_modalities["image_codes"], two_modalities["text_codes"])
    assert res.captions_per_image == CAPTIONS
    assert res.score[N_CONCEPTS] > 0.99  # image-only latent
    assert res.score[N_CONCEPTS + 1] < 0.01  # text-only latent
    np.testing.assert_allclose(res.score[:N_CONCEPTS], 0.5, atol=0.03)  # shared concepts
    assert not res.alive[-1] and np.isnan(res.score[-1])  # dead latent left out
    assert res.values.shape == (N_CONCEPTS + 2,) and np.isfinite(res.values).all()


def test_closed_form_and_caption_count():
    img = np.array([[1.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    txt = np.array([[0.0, 3.0, 1.0], [0.0, 0.0, 1.0]])
    res = modality_score(img, txt, captions_per_image=2)
    np.testing.assert_allclose(res.image_energy, [2.0, 0.0, 4.0])
    np.testing.assert_allclose(res.text_energy, [0.0, 4.5, 1.0])
    np.testing.assert_allclose(res.score, [1.0, 0.0, 0.8])
    inferred = modality_score(img, txt)  # c = n_captions / n_images = 1
    assert inferred.captions_per_image == 1.0
    np.testing.assert_allclose(inferred.score, [1.0, 0.0, 4 / 6])


def test_runs_and_torch(two_modalities, device):
    zi = np.stack([two_modalities["image_codes"], 2 * two_modalities["image_codes"]])
    zt = torch.tensor(two_modalities["text_codes"], device=device)
    res = modality_score(torch.tensor(zi, device=device), zt)
    assert res.score.shape == (2, N_CONCEPTS + 3)
    one = modality_score(two_modalities["image_codes"], two_modalities["text_codes"])
    np.testing.assert_allclose(res.score[0], one.score, rtol=1e-12)
    assert np.all(res.values.reshape(2, -1)[1] >= res.values.reshape(2, -1)[0])


def test_modality_errors(two_modalities):
    zi = two_modalities["image_codes"]
    with pytest.raises(ValueError, match="same number of latents"):
        modality_score(zi, zi[:, :3])
    with pytest.raises(ValueError, match="captions_per_image"):
        modality_score(zi, zi, captions_per_image=0)
    with pytest.raises(ValueError, match="tol"):
        modality_score(zi, zi, tol=-1)


def test_modality_gap(two_modalities):
    gap = modality_gap(two_modalities["image"], two_modalities["text"])
    assert gap == pytest.approx(np.sqrt(2), abs=0.03)  # two orthonormal offsets
    assert modality_gap(two_modalities["image"], two_modalities["image"]) == 0.0
