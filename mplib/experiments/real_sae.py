"""MP-SAE on real data (Costa et al. 2025, Figs. 5–8 and 17; the MOSS workshop on MNIST).

The paper trains one SAE per (backbone, sparsity) on ImageNet tokens of four frozen vision
backbones (SigLIP, DINOv2, CLIP, ViT). None of them installs offline, so four *substitute*
backbones stand in, one panel each:

``patches``
    8×8 pixel patches of the real MNIST digits (d = 64): train patches from the 4,000 training
    digits, eval patches from the 1,000 held-out ones; blank patches (no ink) are skipped (our
    choice: they are the background, trivially reconstructed by any bias).
``cnn``
    Per-location features of a small CNN trained here on those digits (two 3×3 conv + ReLU +
    2×2 max-pool stages, 16 then 64 channels): the 7×7 map of 64 channels gives 49 tokens of
    d = 64 per image, the way a ViT gives one token per patch.
``minilm``
    all-MiniLM-L6-v2 token states after layer 3 of 6 (d = 384) on gensim's Wikipedia + news
    text (128-token windows, [CLS]/[SEP]/padding dropped), split by document.
``smollm2``
    SmolLM2-135M residual stream after block 15 of 30 (d = 576), the project's shared store
    (:func:`mplib.activations.lm_store`), position 0 dropped, split by document.

Every backbone is centred at its training mean and divided by one scalar so that the mean
squared norm is ``d`` (our choice; R² does not change under it).

:func:`train_family` trains the SAE family (ReLU with an adaptive L1 weight, TopK with AuxK,
BatchTopK, JumpReLU with the MOSS L0 penalty, MP-SAE with signed selection as
``overcomplete``) at each k, evaluates it on held-out tokens and caches models and metrics, so
Figs. 5, 6, 7, 8 and 17 train once. :func:`workshop_saes` is the MOSS workshop recipe on the
28×28 digits (p = 1,000, k = 10, batch 50, Adam 1e-3, pre-bias at the geometric median).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from mplib.repro import cached, derive_seed

__all__ = [
    "BACKBONES",
    "COLORS",
    "KINDS",
    "Backbone",
    "LABELS",
    "SUBSTITUTES",
    "TITLES",
    "DigitCNN",
    "FamilyConfig",
    "FamilyRun",
    "BackboneRuns",
    "adaptive_k_curve",
    "calibrate",
    "family_sweep",
    "geometric_median",
    "load_backbone",
    "progressive_reconstruction",
    "make_sae",
    "train_cnn",
    "train_family",
    "workshop_saes",
]

CACHE = "real_sae"
"""Cache folder shared by the notebooks of this module (``data/cache/real_sae/``)."""
BACKBONES = ("patches", "cnn", "minilm", "smollm2")
KINDS = ("relu", "topk", "batchtopk", "jumprelu", "mp")
LABELS = {"relu": "ReLU", "topk": "TopK", "batchtopk": "BatchTopK", "jumprelu": "JumpReLU",
          "mp": "MP-SAE"}
COLORS = {"relu": "#4C72B0", "topk": "#55A868", "batchtopk": "#8172B2", "jumprelu": "#CCB974",
          "mp": "#C44E52"}
"""One colour per SAE kind, the same in every figure of this module."""
TITLES = {"patches": "(a) MNIST 8×8 patches", "cnn": "(b) MNIST CNN features",
          "minilm": "(c) MiniLM layer 3", "smollm2": "(d) SmolLM2 block 15"}
"""Panel titles of the four backbones (Fig. 5's panel letters)."""
SUBSTITUTES = {
    "patches": "8×8 patches of real MNIST digits (d = 64), not SigLIP on ImageNet",
    "cnn": "7×7×64 feature map of a CNN trained here on MNIST (d = 64), not DINOv2 on ImageNet",
    "minilm": "MiniLM-L6 layer-3 token states on gensim Wikipedia + news (d = 384), not CLIP "
              "on ImageNet",
    "smollm2": "SmolLM2-135M block 15 residual stream on gensim Wikipedia + news (d = 576), "
               "not ViT on ImageNet",
}


# --------------------------------------------------------------------------------- backbones
class Backbone(NamedTuple):
    """Training and held-out tokens of one substitute backbone, standardised (float32)."""

    name: str
    """One of :data:`BACKBONES`."""
    X_train: np.ndarray
    """(n_train, d) training tokens."""
    X_eval: np.ndarray
    """(n_eval, d) held-out tokens (held-out digits or documents)."""
    info: dict
    """Provenance and quality numbers (CNN accuracy, token counts, scale)."""


class DigitCNN(nn.Module):
    """Small MNIST classifier whose 7×7×64 feature map gives the ``cnn`` backbone's tokens."""

    def __init__(self, seed: int = 0):
        super().__init__()
        gen = torch.random.fork_rng()
        with gen:
            torch.manual_seed(derive_seed(seed, "cnn-init"))
            self.body = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            )
            self.head = nn.Linear(64 * 7 * 7, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Per-location tokens ``(n, 49, 64)`` of images ``(n, 784)`` in [0, 1]."""
        h = self.body(images.reshape(-1, 1, 28, 28))
        return h.flatten(2).transpose(1, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``(n, 10)``."""
        return self.head(self.body(images.reshape(-1, 1, 28, 28)).flatten(1))


class CNNResult(NamedTuple):
    """A trained :class:`DigitCNN` and its held-out accuracy."""

    model: DigitCNN
    eval_accuracy: float
    """Accuracy on the held-out digits."""


def train_cnn(X_train: np.ndarray, y_train: np.ndarray, X_eval: np.ndarray, y_eval: np.ndarray,
              *, epochs: int = 8, batch_size: int = 64, lr: float = 3e-3,
              seed: int = 0) -> CNNResult:
    """Train :class:`DigitCNN` with Adam and a cosine schedule (cross-entropy); seeded.

    Parameters
    ----------
    X_train, X_eval : ndarray of shape (n, 784)
        Pixels in [0, 1].
    y_train, y_eval : ndarray of shape (n,)
        Labels 0–9.
    epochs, batch_size, lr : int, int, float
    seed : int

    Returns
    -------
    CNNResult
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    model = DigitCNN(seed)
    X = torch.as_tensor(X_train, dtype=torch.float32)
    y = torch.as_tensor(y_train, dtype=torch.long)
    steps = epochs * max(1, len(X) // batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(derive_seed(seed, "cnn-order"))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        for s in range(0, len(X) - batch_size + 1, batch_size):
            idx = order[s:s + batch_size]
            loss = nn.functional.cross_entropy(model(_shift(X[idx], gen)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(X_eval, dtype=torch.float32)).argmax(1).numpy()
    return CNNResult(model, float((pred == np.asarray(y_eval)).mean()))


def _shift(images: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Augmentation: translate each batch by up to ``max_shift`` pixels (zero fill)."""
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=gen))
    img = images.reshape(-1, 28, 28)
    out = torch.zeros_like(img)
    ys, yd = (slice(0, 28 - dy), slice(dy, 28)) if dy >= 0 else (slice(-dy, 28), slice(0, 28 + dy))
    xs, xd = (slice(0, 28 - dx), slice(dx, 28)) if dx >= 0 else (slice(-dx, 28), slice(0, 28 + dx))
    out[:, yd, xd] = img[:, ys, xs]
    return out.reshape(images.shape)


def _standardise(X_train: np.ndarray, X_eval: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    Xt = np.asarray(X_train, dtype=np.float64)
    mean = Xt.mean(0)
    scale = float(np.sqrt(((Xt - mean) ** 2).sum(1).mean() / Xt.shape[1]))
    scale = scale if scale > 0 else 1.0
    f = lambda a: ((np.asarray(a, dtype=np.float64) - mean) / scale).astype(np.float32)  # noqa: E731
    return f(X_train), f(X_eval), {"scale": scale}


def _subsample(X: np.ndarray, n: int, seed: int, tag: str) -> np.ndarray:
    if len(X) <= n:
        return X
    rng = np.random.default_rng(derive_seed(seed, tag))
    return X[np.sort(rng.choice(len(X), size=n, replace=False))]


def _patches(split, n_train: int, n_eval: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    from mplib.datasets import sample_patches

    def draw(X, n, tag):
        imgs = list(X.reshape(-1, 28, 28).astype(np.float64))
        p = sample_patches(imgs, patch_size=8, n_patches=3 * n + 64,
                           seed=derive_seed(seed, tag))
        p = p[p.sum(1) > 0]  # skip blank background patches
        if len(p) < n:
            raise ValueError(f"only {len(p)} non-blank patches drawn, {n} asked")
        return p[:n].astype(np.float32)

    return draw(split.X_train, n_train, "patches-train"), draw(split.X_eval, n_eval,
                                                                "patches-eval"), {}


def _cnn(split, n_train: int, n_eval: int, seed: int, epochs: int):
    res = train_cnn(split.X_train, split.y_train, split.X_eval, split.y_eval, epochs=epochs,
                    seed=seed)
    with torch.no_grad():
        tr = res.model.features(torch.as_tensor(split.X_train)).reshape(-1, 64).numpy()
        ev = res.model.features(torch.as_tensor(split.X_eval)).reshape(-1, 64).numpy()
    return (_subsample(tr, n_train, seed, "cnn-train"), _subsample(ev, n_eval, seed, "cnn-eval"),
            {"cnn_eval_accuracy": res.eval_accuracy, "cnn_epochs": epochs})


MINILM_LAYER = 3
"""hidden_states index of the MiniLM backbone (output of layer 3 of 6: the middle)."""


def minilm_token_states(documents, *, max_tokens: int, window: int = 128,
                        batch_size: int = 32) -> np.ndarray:
    """MiniLM token states after layer :data:`MINILM_LAYER` of ``documents``, in order.

    ``mplib.activations.extract_activations`` stops a *causal* LM at a block through its
    ``model.layers``; MiniLM is a BERT encoder (``encoder.layer``), so this small extractor
    runs it with ``output_hidden_states`` instead. Each document is cut into windows of
    ``window - 2`` word pieces wrapped in [CLS] … [SEP]; the special and padded positions are
    dropped. Stops after ``max_tokens`` tokens.

    Returns
    -------
    ndarray of shape (n_tokens, 384), float32
    """
    from mplib.models import load_minilm

    enc = load_minilm()
    tok = enc.tokenizer
    chunks, total = [], 0
    for doc in documents:
        ids = tok(doc.text, add_special_tokens=False)["input_ids"]
        for s in range(0, len(ids), window - 2):
            piece = ids[s:s + window - 2]
            chunks.append([tok.cls_token_id, *piece, tok.sep_token_id])
            total += len(piece)
            if total >= max_tokens:
                break
        if total >= max_tokens:
            break
    out = []
    with torch.no_grad():
        for b in range(0, len(chunks), batch_size):
            group = chunks[b:b + batch_size]
            n = max(len(c) for c in group)
            ids = torch.full((len(group), n), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(group), n), dtype=torch.long)
            for i, c in enumerate(group):
                ids[i, :len(c)] = torch.tensor(c)
                mask[i, :len(c)] = 1
            h = enc.model(input_ids=ids, attention_mask=mask,
                          output_hidden_states=True).hidden_states[MINILM_LAYER]
            keep = mask.bool().clone()
            keep[:, 0] = False
            keep[torch.arange(len(group)), mask.sum(1) - 1] = False
            out.append(h[keep].numpy())
    return np.concatenate(out)[:max_tokens].astype(np.float32)


def _minilm(n_train: int, n_eval: int, seed: int):
    from mplib.datasets import load_documents, split_documents

    parts = split_documents(load_documents("all"), fractions=(0.9, 0.1), seed=seed)
    return (minilm_token_states(parts["train"], max_tokens=n_train),
            minilm_token_states(parts["eval"], max_tokens=n_eval), {"layer": MINILM_LAYER})


def _smollm2(n_train: int, n_eval: int, seed: int, lm_tokens: int):
    from mplib.activations import lm_store

    store = lm_store(lm_tokens)
    pos = np.asarray(store.index["position"])
    arr = store.array

    ids = {s: store.split_ids(s) for s in ("train", "eval")}
    ids = {s: v[pos[v] != 0] for s, v in ids.items()}
    note = "held-out documents"
    if len(ids["eval"]) < 64:  # a tiny store (smoke) may hold too few documents to split
        cut = int(0.8 * len(ids["train"]))
        ids = {"train": ids["train"][:cut], "eval": ids["train"][cut:]}
        note = "too few documents: held out = the last 20 % of the tokens"

    def take(split, n, tag):
        return _subsample(arr[ids[split]], n, seed, tag).astype(np.float32)

    return take("train", n_train, "lm-train"), take("eval", n_eval, "lm-eval"), {
        "lm_tokens": lm_tokens, "site": "resid.15", "store": store.path.name, "eval": note}


def load_backbone(name: str, *, n_train: int, n_eval: int, seed: int = 0,
                  n_digits: tuple[int, int] = (4000, 1000), cnn_epochs: int = 8,
                  lm_tokens: int = 32768) -> Backbone:
    """Return (computing once, cached) the standardised tokens of one substitute backbone.

    Parameters
    ----------
    name : {"patches", "cnn", "minilm", "smollm2"}
        See the module docstring.
    n_train, n_eval : int
        Training and held-out tokens (at most; fewer when the source has fewer).
    seed : int, default=0
        Seeds the digit split, the patch draw, the CNN, the document split and subsamples.
    n_digits : (int, int), default=(4000, 1000)
        MNIST train / held-out digits behind ``patches`` and ``cnn``.
    cnn_epochs : int, default=8
        Training epochs of the CNN (``cnn``).
    lm_tokens : int, default=32768
        Size of the shared SmolLM2 store (``smollm2``; 2,048 · 32,768 · 196,608 per preset).

    Returns
    -------
    Backbone
    """
    if name not in BACKBONES:
        raise ValueError(f"name must be one of {BACKBONES}, got {name!r}")
    for arg, v in (("n_train", n_train), ("n_eval", n_eval)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{arg} must be a positive int, got {v!r}")
    key = dict(name=name, n_train=n_train, n_eval=n_eval, seed=seed, n_digits=list(n_digits))
    key.update(cnn_epochs=cnn_epochs if name == "cnn" else None,
               lm_tokens=lm_tokens if name == "smollm2" else None, version=3)

    def compute():
        if name in ("patches", "cnn"):
            from mplib.datasets import load_mnist

            split = load_mnist(n_train=n_digits[0], n_eval=n_digits[1], seed=seed)
            if name == "patches":
                tr, ev, info = _patches(split, n_train, n_eval, seed)
            else:
                tr, ev, info = _cnn(split, n_train, n_eval, seed, cnn_epochs)
        elif name == "minilm":
            tr, ev, info = _minilm(n_train, n_eval, seed)
        else:
            tr, ev, info = _smollm2(n_train, n_eval, seed, lm_tokens)
        tr, ev, scale = _standardise(tr, ev)
        info = {**info, **scale, "n_train": len(tr), "n_eval": len(ev), "d": tr.shape[1],
                "substitute": SUBSTITUTES[name]}
        return {"X_train": tr, "X_eval": ev, "info": info}

    out = cached(CACHE, f"backbone-{name}", key, compute)
    return Backbone(name, out["X_train"], out["X_eval"], out["info"])


def _identity(b: Backbone) -> str:
    h = hashlib.sha256()
    for a in (b.X_train[:512], b.X_eval[:512]):
        h.update(np.ascontiguousarray(a).tobytes())
    return f"{b.name}-{b.X_train.shape}-{b.X_eval.shape}-{h.hexdigest()[:16]}"


# ------------------------------------------------------------------------------ SAE family
@dataclasses.dataclass(frozen=True)
class FamilyConfig:
    """How :func:`train_family` trains and evaluates one SAE per (kind, k) on a backbone."""

    kinds: tuple[str, ...] = KINDS
    """SAE kinds, from :data:`KINDS`."""
    ks: tuple[int, ...] = (2, 4, 8, 16, 32)
    """Training sparsities (TopK k, BatchTopK / ReLU / JumpReLU target L0, MP steps)."""
    expansion: int = 4
    """Latents per input dimension (paper: 25; p = expansion · d)."""
    n_steps: int = 1000
    """Optimizer steps per SAE."""
    batch_size: int = 256
    """Tokens per step (paper: 8,000)."""
    lr: float = 2e-3
    """Peak learning rate of the paper's recipe (AdamW, warm-up, cosine; paper: 5e-4)."""
    seed: int = 0
    """Seeds every SAE (``seed`` for all k: one SAE per point, as the paper)."""
    n_babel: int = 1000
    """Held-out inputs for the co-selected Babel function."""
    r_max: int = 64
    """Largest order of the global Babel function."""
    device: str = "cpu"
    """Torch device (``"cuda"`` in the paper preset)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        object.__setattr__(self, "ks", tuple(int(k) for k in self.ks))
        bad = [k for k in self.kinds if k not in KINDS]
        if not self.kinds or bad:
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {self.kinds!r}")
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must hold positive ints, got {self.ks!r}")
        for name in ("expansion", "n_steps", "batch_size", "n_babel", "r_max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ValueError(f"lr must be a positive float, got {self.lr!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")


class FamilyRun(NamedTuple):
    """One trained SAE of the family and its held-out numbers."""

    kind: str
    k: int
    model: Any
    """The trained SAE (unbatched, on CPU, eval mode)."""
    metrics: dict
    """``r2`` (per-dimension mean), ``r2_global`` (overcomplete's scalar mean), ``fvu``,
    ``l0``, ``dead_fraction``, ``effective_rank``, ``babel`` (r = 1 … r_max), ``babel_coselected``
    and ``babel_coselected_n``, ``coherence_counts`` / ``coherence_edges``, ``train_seconds``."""


def make_sae(kind: str, d: int, p: int, k: int | list, *, seed: int = 0, device: str = "cpu",
             n_models: int | None = None):
    """Build one SAE of the real-data family (our recipe for each baseline; see Notes).

    Notes
    -----
    ReLU: L1 weighted by decoder norms, weight adapted multiplicatively (rate 1e-2 per step)
    towards L0 = k. TopK: AuxK with k_aux = p/2, weight 1/32. BatchTopK: batch-level top
    (k · B) in training, EMA threshold at inference. JumpReLU: MOSS penalty
    ``c · (L0/k − 1)²`` with ``c = d / 10`` (MOSS: 10 on 784-pixel digits of norm ≈ 9), initial
    threshold 0.1, bandwidth 0.1. MP-SAE: ``k`` steps, signed selection (``overcomplete``),
    revive weight 1e-5 (paper App. B.2), no bias (the tokens are centred).
    """
    from mplib.sae import MPSAE, BatchTopKSAE, JumpReLUSAE, ReLUSAE, TopKSAE

    kw = dict(seed=seed, device=device, n_models=n_models)
    tgt = [float(v) for v in k] if isinstance(k, list) else float(k)
    if kind == "relu":
        return ReLUSAE(d, p, l1_coef=0.1, target_l0=tgt, l1_rate=1e-2, l1_warmup=0.1, **kw)
    if kind == "topk":
        return TopKSAE(d, p, k=k, aux_k=p // 2, **kw)
    if kind == "batchtopk":
        m = BatchTopKSAE(d, p, target_l0=tgt, initial_target_l0=None, initial_steps=0, **kw)
        with torch.no_grad():  # tied init as the others (the toy's N(0, 1) encoder is ~√d too big)
            m.W_enc.copy_(m.W_dec.transpose(-1, -2))
        return m
    if kind == "jumprelu":
        return JumpReLUSAE(d, p, sparsity_coef=d / 10, target_l0=tgt, **kw)
    if kind == "mp":
        return MPSAE(d, p, k=k, threshold=None, stop_on_unchanged_support=False,
                     selection="signed", coefficient="projection", revive_coef=1e-5, **kw)
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def calibrate(model, kind: str, X: torch.Tensor, ks: list) -> None:
    """Data-driven start for the ReLU and JumpReLU SAEs: L0 ≈ k on ``X`` before training.

    Our choice, so that runs of a few hundred Adam steps (each moving a bias by at most ~lr)
    can reach the target: with ``q_m`` the ``(1 − k_m/p)`` quantile of run ``m``'s
    pre-activations on ``X``, the ReLU encoder bias starts at ``−q_m`` and the JumpReLU
    thresholds at ``q_m``. Other kinds are left as they are.
    """
    if kind not in ("relu", "jumprelu"):
        return
    with torch.no_grad():
        x3 = X.to(model.decoder_weight)
        x3 = x3.expand(model.n_models, *x3.shape)
        if kind == "jumprelu":
            model.b_enc.zero_()
        pre = model.pre_activation(x3).flatten(1)  # (M, B·p)
        for m, k in enumerate(ks):
            n = pre.shape[1]
            rank = max(1, min(n, n - int(round(n * k / model.n_latents))))
            q = float(pre[m].kthvalue(rank).values.clamp_min(1e-3))
            if kind == "relu":
                model.b_enc[m].fill_(-q)
            else:
                model.log_threshold[m].fill_(float(np.log(q)))


def _evaluate(model, X_eval: torch.Tensor, cfg: FamilyConfig, k: int, seed: int) -> dict:
    from mplib.metrics import (
        babel,
        babel_coselected,
        coherence_histogram,
        dead_fraction,
        effective_rank,
        l0,
        r2_score,
    )

    with torch.no_grad():
        z = torch.cat([model.encode(X_eval[s:s + 4096]) for s in range(0, len(X_eval), 4096)])
        x_hat = model.decode(z)
    D = model.dictionary.detach().double()
    r2 = float(r2_score(X_eval, x_hat))
    sub = z[: cfg.n_babel]
    co = babel_coselected(D, sub, r_max=min(max(k, 2) - 1, D.shape[0] - 1)) if k > 1 else None
    hist = coherence_histogram(D, bins=100, seed=seed)
    return {
        "r2": r2, "fvu": 1.0 - r2, "r2_global": float(r2_score(X_eval, x_hat, mean="global")),
        "l0": float(l0(z)), "dead_fraction": float(dead_fraction(z)),
        "effective_rank": float(effective_rank(z)),
        "babel": np.asarray(babel(D, r_max=min(cfg.r_max, D.shape[0] - 1))).tolist(),
        "babel_coselected": [] if co is None else np.asarray(co.babel).tolist(),
        "babel_coselected_n": [] if co is None else np.asarray(co.n_inputs).tolist(),
        "coherence_counts": hist.counts.tolist(), "coherence_edges": hist.edges.tolist(),
        "n_eval": len(X_eval),
    }


def _train_cfg(kind: str, cfg: FamilyConfig):
    from mplib.sae import TrainConfig

    return TrainConfig.large_scale(cfg.n_steps, lr=cfg.lr, batch_size=cfg.batch_size,
                                   seed=cfg.seed, progress=False,
                                   log_every=max(1, cfg.n_steps // 10),
                                   decoder_norm="unit" if kind == "mp" else "ball")


def train_family(backbone: Backbone, cfg: FamilyConfig, *, stem: str = CACHE) -> list[FamilyRun]:
    """Train (or load from the cache) one SAE per (kind, k) on a backbone and evaluate it.

    The linear SAEs of one kind train as one batched model holding a run per k; each MP-SAE
    trains alone (a batched pursuit would take ``max(k)`` steps for every run). Each (kind)
    group is cached under ``data/cache/<stem>/``, keyed by the backbone's identity and ``cfg``.

    Returns
    -------
    list of FamilyRun
        In ``cfg.kinds`` × ``cfg.ks`` order.
    """
    import time

    from mplib.sae import BaseSAE, train

    if not isinstance(cfg, FamilyConfig):
        raise TypeError(f"cfg must be a FamilyConfig, got {type(cfg).__name__}")
    d = backbone.X_train.shape[1]
    p = cfg.expansion * d
    Xtr = torch.as_tensor(backbone.X_train)
    Xev = torch.as_tensor(backbone.X_eval)
    runs = []
    for kind in cfg.kinds:
        tcfg = _train_cfg(kind, cfg)
        groups = [[k] for k in cfg.ks] if kind == "mp" else [list(cfg.ks)]
        for ks in groups:
            def compute(kind=kind, ks=ks, tcfg=tcfg):
                t0 = time.perf_counter()
                batched = len(ks) > 1
                model = make_sae(kind, d, p, ks if batched else ks[0], seed=cfg.seed,
                                 device=cfg.device, n_models=len(ks) if batched else None)
                dev = model.decoder_weight.device
                calibrate(model, kind, Xtr[:2048], ks)
                train(model, Xtr.to(dev), tcfg)
                seconds = (time.perf_counter() - t0) / len(ks)
                out = []
                for i, k in enumerate(ks):
                    run = model.get_run(i) if batched else model
                    conf = run.config()
                    state = {n: (v.cpu() if isinstance(v, torch.Tensor) else v)
                             for n, v in run.state_dict().items()}
                    m = BaseSAE.from_config(conf)  # rebuilt on the CPU
                    m.load_state_dict(state)
                    met = _evaluate(m.eval(), Xev, cfg, k, cfg.seed)
                    met["train_seconds"] = seconds
                    out.append({"k": k, "config": conf, "state": state, "metrics": met})
                return out

            key = [_identity(backbone), kind, ks, dataclasses.asdict(cfg), tcfg.to_dict(), 1]
            for entry in cached(stem, f"family-{backbone.name}-{kind}", key, compute):
                model = BaseSAE.from_config(entry["config"])
                model.load_state_dict(entry["state"])
                runs.append(FamilyRun(kind, entry["k"], model.eval(), entry["metrics"]))
    return runs


def adaptive_k_curve(model, X_eval: np.ndarray | torch.Tensor, ks) -> np.ndarray:
    """FVU of ``model`` on ``X_eval`` when encoding with ``k'`` in ``ks`` (Figs. 8, 20).

    MP-SAE runs ``k'`` pursuit steps (continuing or stopping the pursuit); the other SAEs keep
    their ``k'`` largest codes (``model.encode(x, k=k')``).

    Returns
    -------
    ndarray of shape (len(ks),)
        ``1 − R²`` (per-dimension mean) at each ``k'``.
    """
    from mplib.metrics import fvu
    from mplib.pursuit import dense_codes
    from mplib.sae import MPSAE

    X = torch.as_tensor(X_eval)
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 0:
        raise ValueError(f"ks must hold non-negative ints, got {ks!r}")
    out = []
    with torch.no_grad():
        if isinstance(model, MPSAE):
            # one pursuit of max(ks) steps: its first k' steps are the k'-step pursuit (greedy)
            trace = model.pursuit_trace(X, k=max(ks))
            for k in ks:
                z = dense_codes(trace.indices[:, :k], trace.values[:, :k], model.n_latents)
                out.append(float(fvu(X, model.decode(z))))
            return np.array(out)
        for k in ks:
            z = model.encode(X, k=k)
            out.append(float(fvu(X, model.decode(z))))
    return np.array(out)


# ------------------------------------------------------------------------------- workshop
def geometric_median(X: np.ndarray, *, n_iter: int = 200, tol: float = 1e-7) -> np.ndarray:
    """Geometric median of the rows of ``X`` by Weiszfeld's iterations (float64).

    ``argmin_m Σ_i ||x_i − m||``, started at the mean; points closer than 1e-12 to the
    current estimate are given that distance (a standard guard).

    Examples
    --------
    >>> geometric_median(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [10.0, 10.0]])).round(2)
    array([0.35, 0.35])
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    m = X.mean(0)
    for _ in range(n_iter):
        w = 1.0 / np.maximum(np.linalg.norm(X - m, axis=1), 1e-12)
        new = (w[:, None] * X).sum(0) / w.sum()
        if np.linalg.norm(new - m) <= tol * max(1.0, np.linalg.norm(m)):
            return new
        m = new
    return m


def workshop_saes(X_train: np.ndarray, *, kinds=("relu", "jumprelu", "topk", "batchtopk", "mp"),
                  p: int = 1000, k: int = 10, batch_size: int = 50, epochs: int = 50,
                  lr: float = 1e-3, seed: int = 0, stem: str = CACHE) -> dict[str, Any]:
    """Train (or load) one SAE per kind with the MOSS workshop recipe on 28×28 digits.

    All SAEs: p = 1,000 unit-norm atoms (projected after every step), pre-bias initialised at
    the geometric median of the training digits (learned; the linear SAEs' decoder bias),
    per-image summed squared error, Adam 1e-3, batch 50, constant rate. ReLU: L1 0.1 adapted
    towards L0 = k; JumpReLU: ``10 · (L0/k − 1)²``, threshold 0.1, bandwidth 0.1; TopK: AuxK
    (k_aux = p/2, weight 0.1); BatchTopK: batch top (k · B), EMA threshold; MP-SAE: tied, ReLU
    selection (``argmax relu(c)``), ``k`` steps, atom dropout 0.75 during epoch 0 only.
    (The released notebook never applies the baselines' penalties, a bug; we apply them.)

    Returns
    -------
    dict of kind -> SAE (unbatched, eval mode)
    """
    from mplib.sae import MPSAE, BaseSAE, BatchTopKSAE, JumpReLUSAE, ReLUSAE, TopKSAE, TrainConfig
    from mplib.sae import train as train_sae

    X = np.asarray(X_train, dtype=np.float32)
    d = X.shape[1]
    n_steps = epochs * (len(X) // batch_size)
    per_epoch = len(X) // batch_size
    median = geometric_median(X)
    cfg = TrainConfig(n_steps=n_steps, lr=lr, optimizer="adam", betas=(0.9, 0.999),
                      schedule="constant", warmup_steps=0, grad_clip=None, decoder_norm="unit",
                      batch_size=batch_size, seed=seed, progress=False,
                      log_every=max(1, per_epoch))
    out = {}
    for kind in kinds:
        def compute(kind=kind):
            if kind == "relu":
                m = ReLUSAE(d, p, l1_coef=0.1, target_l0=float(k), l1_rate=1e-3, l1_warmup=0.0,
                            seed=seed)
            elif kind == "jumprelu":
                m = JumpReLUSAE(d, p, threshold_init=0.1, bandwidth=0.1, sparsity_coef=10.0,
                                target_l0=float(k), seed=seed)
            elif kind == "topk":
                m = TopKSAE(d, p, k=k, aux_k=p // 2, aux_coef=0.1, seed=seed)
            elif kind == "batchtopk":
                m = BatchTopKSAE(d, p, target_l0=float(k), initial_target_l0=None,
                                 initial_steps=0, seed=seed)
            elif kind == "mp":
                m = MPSAE(d, p, k=k, threshold=None, stop_on_unchanged_support=False,
                          selection="positive", coefficient="projection", pre_bias=True,
                          atom_dropout=0.75, seed=seed)
            else:
                raise ValueError(f"kinds: unknown kind {kind!r}")
            with torch.no_grad():
                bias = m.b_pre if kind == "mp" else m.b_dec
                bias.copy_(torch.as_tensor(median, dtype=bias.dtype).expand_as(bias))

            def drop_after_epoch0(step, sae, _out, kind=kind):
                if kind == "mp" and step + 1 == per_epoch:
                    sae.hyper["atom_dropout"] = 0.0

            train_sae(m, torch.as_tensor(X), cfg, callback=drop_after_epoch0)
            return {"config": m.config(), "state": m.state_dict(), "median": median}

        key = [kind, p, k, batch_size, epochs, lr, seed, cfg.to_dict(),
               hashlib.sha256(X.tobytes()).hexdigest()[:16], 1]
        res = cached(stem, f"workshop-{kind}", key, compute)
        model = BaseSAE.from_config(res["config"])
        model.load_state_dict(res["state"])
        out[kind] = model.eval()
    return out


class BackboneRuns(NamedTuple):
    """A backbone, the family trained on it and the config used."""

    backbone: Backbone
    runs: list
    """:class:`FamilyRun` list (kinds × ks)."""
    cfg: FamilyConfig

    def sizes(self) -> dict:
        """Return the JSON-able sizes: d, p, expansion, steps, train/eval counts, backbone info."""
        d = self.backbone.X_train.shape[1]
        return {"d": d, "p": self.cfg.expansion * d, "expansion": self.cfg.expansion,
                "n_steps": self.cfg.n_steps, "n_train": len(self.backbone.X_train),
                "n_eval": len(self.backbone.X_eval), **self.backbone.info}

    def get(self, kind: str, k: int) -> FamilyRun:
        """Return the run of ``kind`` trained at ``k``."""
        for r in self.runs:
            if r.kind == kind and r.k == k:
                return r
        raise ValueError(f"no run of kind {kind!r} at k={k}")


def family_sweep(backbones=BACKBONES, *, kinds=KINDS, ks=(2, 4, 8, 16, 32), seed: int = 0,
                 n_train: int, n_eval: int, cnn_epochs: int, lm_tokens: int, expansion: int,
                 expansion_lm: int, n_steps: int, n_steps_lm: int, batch_size: int,
                 lr: float, device: str = "cpu",
                 n_digits: tuple[int, int] = (4000, 1000)) -> dict[str, BackboneRuns]:
    """Load each backbone and train (or load) its SAE family: the shared step of Figs. 5–8, 17.

    ``expansion`` / ``n_steps`` apply to the 64-d backbones (``patches``, ``cnn``),
    ``expansion_lm`` / ``n_steps_lm`` to the 384/576-d ones (``minilm``, ``smollm2``), whose
    SAEs cost ~50× more per step.

    Returns
    -------
    dict of backbone name -> BackboneRuns
    """
    out = {}
    for name in backbones:
        bb = load_backbone(name, n_train=n_train, n_eval=n_eval, seed=seed,
                           n_digits=tuple(n_digits), cnn_epochs=cnn_epochs, lm_tokens=lm_tokens)
        lm = name in ("minilm", "smollm2")
        cfg = FamilyConfig(kinds=tuple(kinds), ks=tuple(ks),
                           expansion=expansion_lm if lm else expansion,
                           n_steps=n_steps_lm if lm else n_steps, batch_size=batch_size, lr=lr,
                           seed=seed, device=device)
        out[name] = BackboneRuns(bb, train_family(bb, cfg), cfg)
    return out


class Progressive(NamedTuple):
    """One input's codes sorted by coefficient and its reconstruction atom by atom."""

    atoms: np.ndarray
    """(n,) atom indices, largest coefficient first (``|z|`` for signed codes)."""
    coefficients: np.ndarray
    """(n,) their coefficients."""
    images: np.ndarray
    """(n + 1, d): the bias alone (MP-SAE's pre-bias, the others' decoder bias), then the bias
    plus the first 1, 2, … atoms times their coefficients."""


def progressive_reconstruction(model, x: np.ndarray, *, n_max: int | None = None) -> Progressive:
    """Sort the nonzero codes of one input by coefficient and rebuild it one atom at a time.

    Parameters
    ----------
    model : SAE
        Unbatched, with ``encode``, ``decode`` and ``dictionary``.
    x : ndarray of shape (d,)
        The input.
    n_max : int, optional
        Keep at most this many atoms (all nonzero codes by default).

    Returns
    -------
    Progressive
    """
    X = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(1, -1)
    with torch.no_grad():
        z = model.encode(X)[0]
        bias = model.decode(torch.zeros_like(z)[None])[0]
        D = model.dictionary.detach()
    nz = torch.nonzero(z).flatten()
    order = nz[torch.argsort(z[nz].abs(), descending=True)]
    if n_max is not None:
        order = order[:n_max]
    steps = z[order, None] * D[order]
    images = torch.cat([bias[None], bias[None] + steps.cumsum(0)])
    return Progressive(order.numpy(), z[order].numpy(), images.numpy())
