"""A small CLIP-style image–text model of handwritten digits, trained here (offline substitute).

No CLIP-like model with weights installs offline, so the multimodal experiments (MP-SAE paper,
Figs. 9 and 19) use a real, tiny joint space learned in the project:

* **image tower**: a small CNN (two 3×3 convolutions with max-pooling, then two linear layers)
  or an MLP (784 → 256 → 64) on the 28×28 MNIST digits;
* **text tower**: *frozen* caption features — MiniLM sentence embeddings (384-d, mean-pooled,
  unit norm, as sentence-transformers computes them) or the mean of the captions' GloVe 50-d
  word vectors — followed by a trained projection (linear → GELU → linear, to 64-d);
* both towers' outputs are unit-normalised into the shared 64-d space and trained with the
  symmetric InfoNCE loss of CLIP (Radford et al., 2021, § 2.3): for a batch of B image–caption
  pairs, logits ``s · I Tᵀ`` with a learned temperature ``s = exp(t)`` (initialised at 1/0.07,
  clamped at 100), cross-entropy of each image against the B captions and of each caption
  against the B images, averaged.

Every step pairs each image with one of its captions drawn at random. Frozen text features are
computed once for the unique caption strings. Seeded: tower initialisation, batch order and
caption draws all derive from ``JointConfig.seed``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mplib.repro import derive_seed

__all__ = [
    "JointConfig", "JointModel", "JointReport", "evaluate_joint", "glove_features", "train_joint",
    "unique_captions",
]

IMAGE_TOWERS = ("cnn", "mlp")


@dataclasses.dataclass(frozen=True)
class JointConfig:
    """Architecture and training recipe of :class:`JointModel`."""

    image_tower: str = "cnn"
    """``"cnn"`` (two convolutions) or ``"mlp"`` (one hidden layer)."""
    dim: int = 64
    """Dimension of the shared space."""
    epochs: int = 30
    """Passes over the training images."""
    batch_size: int = 256
    """Image–caption pairs per step (the InfoNCE negatives)."""
    lr: float = 2e-3
    """Adam learning rate (cosine-decayed to zero over the run)."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    seed: int = 0
    """Initialisation, batch order and caption draws."""

    def __post_init__(self):
        if self.image_tower not in IMAGE_TOWERS:
            raise ValueError(f"image_tower must be one of {IMAGE_TOWERS}, got "
                             f"{self.image_tower!r}")
        for name in ("dim", "epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (InfoNCE needs negatives), got "
                             f"{self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite float, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")


def _image_tower(kind: str, dim: int) -> nn.Module:
    if kind == "cnn":
        return nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, dim),
        )
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, dim))


class JointModel(nn.Module):
    """Image tower, text projection and temperature of the joint space (see module docs).

    Parameters
    ----------
    text_dim : int
        Dimension of the frozen caption features (384 for MiniLM, 50 for GloVe).
    cfg : JointConfig
    """

    def __init__(self, text_dim: int, cfg: JointConfig):
        super().__init__()
        torch.manual_seed(derive_seed(cfg.seed, "joint-init"))  # local: restored by caller
        self.cfg = cfg
        self.image = _image_tower(cfg.image_tower, cfg.dim)
        self.text = nn.Sequential(nn.Linear(text_dim, 256), nn.GELU(), nn.Linear(256, cfg.dim))
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings ``(n, dim)`` of images ``(n, 784)`` in [0, 1]."""
        return F.normalize(self.image(images), dim=-1)

    def embed_text(self, features: torch.Tensor) -> torch.Tensor:
        """Unit-norm text embeddings ``(n, dim)`` of frozen caption features."""
        return F.normalize(self.text(features), dim=-1)

    def loss(self, images: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE of a batch of matched pairs."""
        i, t = self.embed_images(images), self.embed_text(features)
        logits = self.log_scale.clamp(max=math.log(100.0)).exp() * i @ t.T
        target = torch.arange(len(i))
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _check_pairs(images: np.ndarray, caption_ids: np.ndarray, features: np.ndarray) -> None:
    if images.ndim != 2 or images.shape[1] != 784:
        raise ValueError(f"images must have shape (n, 784), got {images.shape}")
    if caption_ids.shape[0] != images.shape[0] or caption_ids.ndim != 2:
        raise ValueError(f"caption_ids must have shape ({images.shape[0]}, n_captions), got "
                         f"{caption_ids.shape}")
    if caption_ids.min() < 0 or caption_ids.max() >= len(features):
        raise ValueError("caption_ids must index rows of features")


def train_joint(
    images: np.ndarray, caption_ids: np.ndarray, features: np.ndarray, cfg: JointConfig
) -> JointModel:
    """Train a :class:`JointModel` on images and their captions' frozen features.

    Parameters
    ----------
    images : ndarray of shape (n, 784)
        Training digits in [0, 1].
    caption_ids : ndarray of shape (n, n_captions), int
        Row of ``features`` for each caption of each image.
    features : ndarray of shape (n_unique_captions, text_dim)
        Frozen text-tower features of the unique caption strings.
    cfg : JointConfig

    Returns
    -------
    JointModel
        In eval mode.
    """
    images, caption_ids = np.asarray(images), np.asarray(caption_ids)
    features = np.asarray(features)
    _check_pairs(images, caption_ids, features)
    state = torch.random.get_rng_state()
    try:
        model = JointModel(features.shape[1], cfg)
    finally:
        torch.random.set_rng_state(state)
    X = torch.as_tensor(images, dtype=torch.float32)
    Fe = torch.as_tensor(features, dtype=torch.float32)
    ids = torch.as_tensor(caption_ids, dtype=torch.long)
    n = len(X)
    bs = min(cfg.batch_size, n)
    steps = cfg.epochs * (n // bs)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(steps, 1))))
    g = torch.Generator().manual_seed(derive_seed(cfg.seed, "joint-batches"))
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=g)
        pick = torch.randint(ids.shape[1], (n,), generator=g)
        for s in range(0, n - bs + 1, bs):
            b = order[s : s + bs]
            loss = model.loss(X[b], Fe[ids[b, pick[b]]])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


class JointReport(NamedTuple):
    """What makes the joint space real: retrieval, zero-shot accuracy and the modality gap."""

    image_to_text_recall: dict
    """Recall@1 and @5 of each image's own captions among all held-out captions (a
    retrieved caption counts when its text equals one of the image's captions)."""
    text_to_image_recall: dict
    """Recall@1 and @5 of each caption's image among all held-out images (an image counts
    when the caption's text is one of its captions)."""
    zero_shot_accuracy: float
    """Share of held-out images whose nearest class prompt ("a handwritten seven") names
    their label."""
    modality_gap: float
    """Distance between the centroids of the unit image and text embeddings."""


@torch.no_grad()
def evaluate_joint(
    model: JointModel,
    images: np.ndarray,
    labels: np.ndarray,
    caption_ids: np.ndarray,
    features: np.ndarray,
    prompt_features: np.ndarray,
) -> JointReport:
    """Measure retrieval, zero-shot accuracy and modality gap on held-out images.

    Parameters
    ----------
    model : JointModel
    images : ndarray (n, 784); labels : ndarray (n,)
    caption_ids : ndarray (n, n_captions)
        Rows of ``features`` for each held-out image's captions.
    features : ndarray (n_unique, text_dim)
    prompt_features : ndarray (10, text_dim)
        Frozen features of the ten class prompts.

    Returns
    -------
    JointReport
    """
    images, caption_ids = np.asarray(images), np.asarray(caption_ids)
    _check_pairs(images, caption_ids, np.asarray(features))
    I = model.embed_images(torch.as_tensor(images, dtype=torch.float32))
    T_all = model.embed_text(torch.as_tensor(np.asarray(features), dtype=torch.float32))
    flat = torch.as_tensor(caption_ids.reshape(-1))
    T = T_all[flat]
    ids = torch.as_tensor(caption_ids)
    # image → text: rank held-out captions; a hit is any caption whose string is the image's
    sim = I @ T.T
    top = sim.topk(5, dim=1).indices
    hit = (flat[top][:, :, None] == ids[:, None, :]).any(-1)
    i2t = {f"@{k}": float(hit[:, :k].any(1).float().mean()) for k in (1, 5)}
    top_i = (T @ I.T).topk(5, dim=1).indices
    hit_t = (ids[top_i] == flat[:, None, None]).any(-1)
    t2i = {f"@{k}": float(hit_t[:, :k].any(1).float().mean()) for k in (1, 5)}
    P = model.embed_text(torch.as_tensor(np.asarray(prompt_features), dtype=torch.float32))
    pred = (I @ P.T).argmax(1).numpy()
    acc = float((pred == np.asarray(labels)).mean())
    gap = float((I.mean(0) - T.mean(0)).norm())
    return JointReport(i2t, t2i, acc, gap)


def unique_captions(captions: list[list[str]]) -> tuple[list[str], np.ndarray]:
    """Find the unique caption strings and, per image, the row of each of its captions.

    Returns
    -------
    strings : list of str
        Sorted unique captions (encode these once with the frozen text tower).
    caption_ids : ndarray of shape (n_images, n_captions), int
    """
    if not captions or any(len(c) != len(captions[0]) for c in captions):
        raise ValueError("captions must be a non-empty list of equally long caption lists")
    strings = sorted({s for per_image in captions for s in per_image})
    row = {s: i for i, s in enumerate(strings)}
    return strings, np.array([[row[s] for s in per_image] for per_image in captions])


def glove_features(strings: list[str], vectors: np.ndarray, index: dict) -> np.ndarray:
    """Mean of the GloVe vectors of each string's words (lower-cased, split on non-letters).

    Words missing from the vocabulary are skipped; a string with no known word raises.
    """
    import re

    out = np.zeros((len(strings), vectors.shape[1]), dtype=np.float32)
    for i, s in enumerate(strings):
        rows = [index[w] for w in re.findall(r"[a-z0-9]+", s.lower()) if w in index]
        if not rows:
            raise ValueError(f"strings: no word of {s!r} is in the GloVe vocabulary")
        out[i] = np.asarray(vectors[rows]).mean(0)
    return out
