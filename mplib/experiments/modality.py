"""Multimodal latents (MP-SAE paper, Figs. 9 and 19, App. B.4) in a joint space trained here.

Recipe shared by the two notebooks:

1. The 5,000 MNIST digits, 4,000 for training and 1,000 held out (stratified, seeded); five
   captions per image from templates over the label and attributes measured on the image
   (:mod:`mplib.datasets.captions`; attribute bins cut at the training images' tertiles).
2. A CLIP-style model (:mod:`mplib.models.joint`): CNN or MLP image tower, frozen MiniLM or
   mean-pooled GloVe text features with a trained projection, 64-d unit embeddings, symmetric
   InfoNCE. Cached under ``data/cache/<stem>/``.
3. SAEs trained jointly on both modalities, **balanced**: the 4,000 training image embeddings
   and one caption embedding per training image (seeded draw), 8,000 points. Expansion 25
   (p = 1,600 latents for d = 64), target L0 = 5 (TopK k = 5, BatchTopK mean L0 5, MP-SAE 5
   steps, ReLU with its L1 weight adapted to L0 ≈ 5), atoms kept in the unit ball, 20 epochs.
4. Evaluation on the held-out images and all five of their captions: per-latent modality score
   ``E_img / (E_img + E_txt / 5)`` (:func:`mplib.metrics.modality_score`, 1 = fires on images
   only, 0 = text only) and the share of live latents with a score in [0.25, 0.75]
   ("multimodal"), the quantity the paper's claim is about.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np
import torch

from mplib.datasets.captions import class_prompts, digit_attributes, make_captions
from mplib.metrics import modality_score
from mplib.models.joint import (
    JointConfig,
    JointReport,
    evaluate_joint,
    glove_features,
    train_joint,
    unique_captions,
)
from mplib.repro import cached, derive_seed

__all__ = ["JointData", "ModalityRun", "joint_data", "joint_space", "modality_saes", "SAE_KINDS"]

SAE_KINDS = ("topk", "batchtopk", "relu", "mp")
MULTIMODAL = (0.25, 0.75)


class JointData(NamedTuple):
    """Digits, labels and captions of the train / held-out split."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_eval: np.ndarray
    y_eval: np.ndarray
    strings: list
    """Unique caption strings (plus nothing else; prompts are separate)."""
    ids_train: np.ndarray
    """(4000, 5) rows of ``strings`` per training image."""
    ids_eval: np.ndarray
    """(1000, 5) rows of ``strings`` per held-out image."""


def joint_data(*, n_train: int = 4000, n_eval: int = 1000, seed: int = 0) -> JointData:
    """Load the MNIST split with five measured-attribute captions per image."""
    from mplib.datasets import load_mnist

    m = load_mnist(n_train=n_train, n_eval=n_eval, seed=seed)
    ref = digit_attributes(m.X_train)
    bins_tr = ref.bins()
    bins_ev = digit_attributes(m.X_eval).bins(ref)
    caps = make_captions(np.concatenate([m.y_train, m.y_eval]),
                         np.concatenate([bins_tr, bins_ev]), seed=derive_seed(seed, "captions"))
    strings, ids = unique_captions(caps)
    return JointData(m.X_train, m.y_train, m.X_eval, m.y_eval, strings,
                     ids[: len(m.y_train)], ids[len(m.y_train) :])


def _text_features(strings: list[str], text_tower: str) -> np.ndarray:
    if text_tower == "minilm":
        from mplib.models import load_minilm

        return np.asarray(load_minilm().embed(strings), dtype=np.float32)
    if text_tower == "glove":
        from mplib.datasets import load_glove

        g = load_glove()
        return glove_features(strings, g.vectors, g.index)
    raise ValueError(f"text_tower must be 'minilm' or 'glove', got {text_tower!r}")


def joint_space(data: JointData, *, image_tower: str, text_tower: str, epochs: int, seed: int,
                stem: str) -> dict[str, Any]:
    """Train (or load from the cache) one joint model; embed everything; report its quality.

    Returns
    -------
    dict
        ``img_train``, ``txt_train`` (one caption per training image), ``img_eval``,
        ``txt_eval`` (all five captions per held-out image, image-major) as float32 arrays,
        and ``report`` (:class:`~mplib.models.joint.JointReport` as a dict).
    """
    cfg = JointConfig(image_tower=image_tower, epochs=epochs, seed=seed)
    key = [dataclasses.asdict(cfg), text_tower, len(data.y_train), len(data.y_eval),
           data.strings]

    def compute():
        feats = _text_features(data.strings + class_prompts(), text_tower)
        feat, prompts = feats[: len(data.strings)], feats[len(data.strings) :]
        model = train_joint(data.X_train, data.ids_train, feat, cfg)
        report = evaluate_joint(model, data.X_eval, data.y_eval, data.ids_eval, feat, prompts)
        rng = np.random.default_rng(derive_seed(seed, "balanced-caption"))
        one = data.ids_train[np.arange(len(data.ids_train)),
                             rng.integers(data.ids_train.shape[1], size=len(data.ids_train))]
        with torch.no_grad():
            img = lambda X: model.embed_images(torch.as_tensor(X)).numpy()  # noqa: E731
            txt = lambda i: model.embed_text(torch.as_tensor(feat[i])).numpy()  # noqa: E731
            return {"img_train": img(data.X_train), "txt_train": txt(one),
                    "img_eval": img(data.X_eval), "txt_eval": txt(data.ids_eval.reshape(-1)),
                    "report": report._asdict()}

    return cached(stem, f"joint-{image_tower}-{text_tower}", key, compute)


class ModalityRun(NamedTuple):
    """One SAE on the joint space: its modality scores and summary numbers."""

    kind: str
    scores: np.ndarray
    """Modality scores of the live latents."""
    multimodal_fraction: float
    """Share of live latents with a score in [0.25, 0.75]."""
    alive_fraction: float
    r2: float
    """Held-out R² (both modalities)."""
    l0: float
    codes_eval: np.ndarray
    """Codes of the held-out images then captions, (1000 + 5000, p), float32."""


def _sae(kind: str, d: int, p: int, k: int, seed: int):
    from mplib.sae import MPSAE, BatchTopKSAE, ReLUSAE, TopKSAE

    if kind == "topk":
        return TopKSAE(d, p, k=k, seed=seed)
    if kind == "batchtopk":
        return BatchTopKSAE(d, p, target_l0=float(k), initial_target_l0=None,
                            initial_steps=60, seed=seed)
    if kind == "relu":  # a fast L1 controller: the run is only a few hundred steps long
        return ReLUSAE(d, p, l1_coef=0.05, target_l0=float(k), l1_rate=0.02, seed=seed)
    if kind == "mp":
        return MPSAE(d, p, k=k, threshold=None, stop_on_unchanged_support=False, seed=seed)
    raise ValueError(f"kind must be one of {SAE_KINDS}, got {kind!r}")


def modality_saes(space: dict[str, Any], *, kinds=SAE_KINDS, expansion: int = 25, k: int = 5,
                  epochs: int = 20, batch_size: int = 256, seed: int = 0, stem: str,
                  tag: str) -> list[ModalityRun]:
    """Train each SAE jointly on both modalities (balanced) and score its latents."""
    from mplib.metrics import r2_score
    from mplib.sae import TrainConfig, train

    Xtr = np.concatenate([space["img_train"], space["txt_train"]])
    n_img = len(space["img_eval"])
    Xev = np.concatenate([space["img_eval"], space["txt_eval"]])
    d = Xtr.shape[1]
    p = expansion * d
    steps = max(1, epochs * (len(Xtr) // batch_size))
    out = []
    for kind in kinds:
        cfg = TrainConfig(n_steps=steps, lr=1e-3, optimizer="adamw", betas=(0.9, 0.999),
                          schedule="cosine", warmup_steps=min(100, steps // 10),
                          decoder_norm="ball", batch_size=batch_size, seed=seed,
                          progress=False)

        def compute(kind=kind, cfg=cfg):
            model = _sae(kind, d, p, k, seed)
            train(model, torch.as_tensor(Xtr), cfg)
            with torch.no_grad():
                z = model.encode(torch.as_tensor(Xev))
                x_hat = model(torch.as_tensor(Xev)).x_hat
            return {"codes": z.numpy(), "x_hat": x_hat.numpy()}

        res = cached(stem, f"sae-{tag}-{kind}",
                     [kind, d, p, k, cfg.to_dict(), space["report"], len(Xtr)], compute)
        z = res["codes"]
        ms = modality_score(z[:n_img], z[n_img:])
        vals = ms.values
        lo, hi = MULTIMODAL
        out.append(ModalityRun(
            kind, vals, float(((vals >= lo) & (vals <= hi)).mean()) if vals.size else 0.0,
            float(ms.alive.mean()), float(r2_score(Xev, res["x_hat"])),
            float((z != 0).sum(1).mean()), z,
        ))
    return out


def report_dict(report: JointReport | dict) -> dict:
    """Flatten the joint model's quality numbers into one dict (for the JSON)."""
    r = report._asdict() if isinstance(report, JointReport) else dict(report)
    return {"recall_i2t@1": r["image_to_text_recall"]["@1"],
            "recall_i2t@5": r["image_to_text_recall"]["@5"],
            "recall_t2i@1": r["text_to_image_recall"]["@1"],
            "recall_t2i@5": r["text_to_image_recall"]["@5"],
            "zero_shot_accuracy": r["zero_shot_accuracy"], "modality_gap": r["modality_gap"]}
