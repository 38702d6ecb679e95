"""SAE dark matter on SmolLM2 (Engels et al., 2024, the real-model panels): SAEs and arrays.

The dark-matter paper (Engels, Riggs, Tegmark, "Decomposing The Dark Matter of Sparse
Autoencoders", arXiv 2410.14670) decomposes the error ``e = x - Sae(x)`` of SAEs on
Gemma-2-9B's residual stream. Offline we use SmolLM2-135M-Instruct's residual stream after its
15th of 30 blocks (``hidden_states[15]``, the output of ``model.model.layers[14]``; d = 576)
on the gensim Wikipedia and news text, read from the project's one activation store
(:func:`mplib.activations.lm_store`, shared with the MP-SAE language-model figures).

API
---
:func:`lm_saes` ``(widths, *, k=32, kind="topk", n_tokens, n_steps, seed=0, site="resid.15")``
    trains (or loads from ``data/runs/dark_matter_lm/``) one SAE per width and returns a list
    of :class:`LMSAE` ``(width, k, kind, site, sae, scale, folder, config)``.
:func:`lm_analysis_arrays` ``(saes, *, n_tokens, site="resid.15")`` returns
    :class:`LMAnalysis`: float64 ``X`` (raw scale, analysis split, positions >= 16), one
    float64 ``X_hat`` per SAE mapped back to the raw scale, the per-token L0 of each SAE, and
    the tokens' store rows, token ids, positions and windows.
:func:`sae_reconstruct` ``(entry, X)`` maps raw activations through one SAE (raw scale in and
    out) and :func:`sae_codes` returns its codes.

Recipe (our choices, in the spirit of the paper's section 6 offline variant)
-----------------------------------------------------------------------------
* **Splits**: the store's tokens are split by *document* into 70 % SAE training ("train") and
  30 % analysis ("eval"), seeded (:data:`DM_SPLITS`, ``split_seed=0``).
* **Positions**: the first 16 positions of every 256-token window are dropped everywhere
  (SAE training and analysis), like the paper's first-200 cut of its 1,024-token contexts
  (attention-sink and high-norm early positions).
* **Scale**: one global scalar only: SAEs train on ``x * scale`` with ``scale`` making the
  mean raw norm of the training split ``sqrt(d)`` (the store's ``"scale"`` standardisation).
  No centring and no per-dimension or per-token normalisation: the paper regresses the raw
  residual stream without an intercept, and centring would remove the implicit intercept.
  Every reconstruction returned here is divided by ``scale`` again (raw scale).
* **SAEs**: ``kind="topk"``: TopK (k latents per token, AuxK with ``d // 2`` dead latents);
  ``kind="batchtopk"``: BatchTopK with mean L0 ``k`` (per-token L0 varies: needed for the
  pursuit budgets and the L0 baseline of the norm-prediction figure), started from the tied
  initialisation (``W_enc = W_decᵀ``) instead of the toy's Gaussian encoder. Adam, learning
  rate 3e-3 (our default), cosine decay to 10 % after a 5 % warm-up, batch 1,024, gradient
  clipping at 1, decoder rows renormalised to unit norm after every step, decoder bias
  started at the training mean.
* **Cache**: each SAE is one checkpoint folder (:func:`mplib.sae.save_checkpoint`) under
  ``data/runs/dark_matter_lm/<kind>-w<width>-k<k>-<key>`` where the key hashes the
  :class:`LMSAEConfig`, the store's identity (key of its manifest) and the source of
  :mod:`mplib.sae`; ``scale`` is stored beside it in ``dm_scale.json``.

Preset token counts (shared with the MP-SAE language-model figures): :data:`LM_TOKENS`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from mplib.repro import atomic_write_json, cache_key, code_fingerprint, runs_dir

__all__ = [
    "DM_FIRST_POSITION",
    "DM_SPLITS",
    "LMAnalysis",
    "LMSAE",
    "LMSAEConfig",
    "LM_TOKENS",
    "SAE_KINDS",
    "dm_store",
    "lm_analysis_arrays",
    "lm_saes",
    "sae_codes",
    "sae_reconstruct",
    "site_arrays",
    "site_rows",
    "split_rows",
]

LM_TOKENS = {"smoke": 2_048, "quick": 32_768, "full": 196_608}
"""Store size per preset, the same for every language-model figure (one shared cache)."""
DM_SPLITS = {"train": 0.7, "eval": 0.3}
"""Token shares by document: SAE training, analysis."""
DM_FIRST_POSITION = 16
"""Positions below this (inside each 256-token window) are dropped."""
SAE_KINDS = ("topk", "batchtopk")


@dataclasses.dataclass(frozen=True)
class LMSAEConfig:
    """One SAE of the SmolLM2 dark-matter figures (all of it enters the cache key)."""

    width: int = 2304
    """Latents (2x ... 16x of d = 576)."""
    k: int = 32
    """TopK: latents per token; BatchTopK: mean latents per token."""
    kind: str = "topk"
    """``"topk"`` or ``"batchtopk"``."""
    n_tokens: int = 32_768
    """Store size (:data:`LM_TOKENS`)."""
    site: str = "resid.15"
    """Store site (see :func:`mplib.models.parse_site`) or ``"heads.15"`` (see
    :func:`site_arrays`)."""
    n_steps: int = 1000
    """Optimizer steps."""
    batch_size: int = 1024
    """Tokens per step."""
    lr: float = 3e-3
    """Peak learning rate."""
    seed: int = 0
    """Seeds the SAE's initialisation and the batch order."""

    def __post_init__(self) -> None:
        for name, low in (("width", 1), ("k", 1), ("n_tokens", 1), ("n_steps", 1),
                          ("batch_size", 1), ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
            object.__setattr__(self, name, int(v))
        if self.k > self.width:
            raise ValueError(f"k must be <= width={self.width}, got {self.k}")
        if self.kind not in SAE_KINDS:
            raise ValueError(f"kind must be one of {SAE_KINDS}, got {self.kind!r}")
        if not isinstance(self.site, str):
            raise ValueError(f"site must be a site name, got {self.site!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float) or not (
                math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive float, got {self.lr!r}")
        object.__setattr__(self, "lr", float(self.lr))


class LMSAE(NamedTuple):
    """A trained SmolLM2 SAE and what is needed to use it on raw activations."""

    width: int
    k: int
    kind: str
    site: str
    sae: Any
    """The :class:`~mplib.sae.BaseSAE` (unbatched, eval mode, float32, CPU)."""
    scale: float
    """The SAE sees ``x * scale``; its reconstructions are divided by it (raw scale)."""
    folder: Path
    """Checkpoint folder."""
    config: LMSAEConfig


class LMAnalysis(NamedTuple):
    """Analysis-split arrays for the dark-matter regressions (float64, raw scale)."""

    X: np.ndarray
    """(T, d) activations at positions >= 16 of the analysis split."""
    X_hat: list
    """One (T, d) float64 reconstruction per SAE, raw scale."""
    l0: list
    """One (T,) int array per SAE: active latents per token."""
    rows: np.ndarray
    """(T,) rows of the activation store."""
    token_ids: np.ndarray
    """(T,) token ids."""
    positions: np.ndarray
    """(T,) positions inside the window."""
    windows: np.ndarray
    """(T,) a window id (document * 100,000 + window), for window-level splits."""


_STORES: dict[int, Any] = {}


def _find_store(n_tokens: int):
    """Find a finished ``resid.15`` store of ``n_tokens`` tokens on disk, without loading the model.

    ``lm_store`` loads SmolLM2 and the documents (seconds each) only to compute the store's
    key; when exactly one finished store with the shared recipe's parameters exists, it is
    the one ``lm_store`` would return (the text hash is the only other key part).
    """
    from mplib.activations import LM_STORE_WINDOW, ActivationStore
    from mplib.repro import cache_dir

    found = []
    for man in sorted(cache_dir("activations").glob("*/manifest.json")):
        if not (man.parent / ".done").exists():
            continue
        p = json.loads(man.read_text()).get("params", {})
        if (p.get("site"), p.get("max_tokens"), p.get("window"), p.get("batch_size"),
                str(p.get("model", "")).startswith("smollm2")) == (
                "resid.15", n_tokens, LM_STORE_WINDOW, 8, True):
            found.append(man.parent)
    if len(found) != 1:
        return None
    return ActivationStore(found[0], splits=DM_SPLITS, split_seed=0, verify=False)


def dm_store(n_tokens: int):
    """Return the shared SmolLM2 store (``resid.15``) with this recipe's 70/30 split."""
    if n_tokens not in _STORES:
        store = _find_store(n_tokens)
        if store is None:
            from mplib.activations import lm_store

            store = lm_store(n_tokens, splits=DM_SPLITS, split_seed=0)
        _STORES[n_tokens] = store
    return _STORES[n_tokens]


def split_rows(store, split: str) -> np.ndarray:
    """Store rows of ``split`` ("train" or "eval"), all positions (sorted int64).

    By document (the store's split). A store too small to hold both splits (the smoke
    preset's 2,048 tokens are one document) is split by 256-token window instead: windows
    permuted with seed 0, the first 70 % of them "train" (our fallback).
    """
    if split == "all":  # smoke-preset plumbing only: analysis tokens include SAE training ones
        return np.arange(store.n_tokens)
    if split not in DM_SPLITS:
        raise ValueError(f"split must be one of {list(DM_SPLITS)} or 'all', got {split!r}")
    if all(len(store.split_ids(s)) for s in DM_SPLITS):
        return store.split_ids(split)
    idx = store.index
    win = np.asarray(idx["doc"]).astype(np.int64) * 100_000 + np.asarray(idx["window"])
    uniq = np.unique(win)
    order = np.random.default_rng(0).permutation(len(uniq))
    n_train = max(1, min(len(uniq) - 1, round(DM_SPLITS["train"] * len(uniq))))
    chosen = uniq[order[:n_train]] if split == "train" else uniq[order[n_train:]]
    return np.flatnonzero(np.isin(win, chosen))


def site_rows(store, split: str, first_position: int = DM_FIRST_POSITION) -> np.ndarray:
    """Store rows of ``split`` at positions ``>= first_position`` (sorted int64)."""
    rows = split_rows(store, split)
    return rows[np.asarray(store.index["position"])[rows] >= first_position]


def _site_matrix(store, site: str) -> np.ndarray:
    """fp16 (n_tokens, d) activations at ``site``, rows aligned with the resid.15 store."""
    if site == "resid.15":
        return store.array
    return site_arrays(store.n_tokens, [site])[site]


def _folder(cfg: LMSAEConfig, store) -> Path:
    key = cache_key("dark-matter-lm-sae", dataclasses.asdict(cfg), store.manifest.get("key"),
                    DM_SPLITS, DM_FIRST_POSITION, code_fingerprint("sae"))
    return runs_dir() / "dark_matter_lm" / f"{cfg.kind}-w{cfg.width}-k{cfg.k}-{key}"


def _build(cfg: LMSAEConfig, d: int):
    from mplib.sae import BatchTopKSAE, TopKSAE

    if cfg.kind == "topk":
        return TopKSAE(d, cfg.width, k=cfg.k, aux_k=min(d // 2, cfg.width), seed=cfg.seed)
    sae = BatchTopKSAE(d, cfg.width, target_l0=float(cfg.k), initial_target_l0=None,
                       seed=cfg.seed)
    with torch.no_grad():  # tied start: the toy's N(0, 1) encoder explodes at d = 576
        sae.W_enc.copy_(sae.W_dec.transpose(-1, -2))
    return sae


def _train_one(cfg: LMSAEConfig, store, folder: Path, progress: bool) -> None:
    from mplib.sae import TrainConfig, save_checkpoint, train

    rows = site_rows(store, "train")
    X = torch.from_numpy(np.ascontiguousarray(_site_matrix(store, cfg.site)[rows])).float()
    scale = math.sqrt(X.shape[1]) / float(X.double().norm(dim=1).mean())
    X.mul_(scale)
    sae = _build(cfg, X.shape[1])
    with torch.no_grad():
        sae.b_dec.copy_(X.double().mean(0, keepdim=True).float())
    tcfg = TrainConfig(n_steps=cfg.n_steps, lr=cfg.lr, optimizer="adam", betas=(0.9, 0.999),
                       schedule="cosine", warmup_steps=max(1, cfg.n_steps // 20),
                       initial_lr_factor=0.1, final_lr_factor=0.1, grad_clip=1.0,
                       decoder_norm="unit", batch_size=min(cfg.batch_size, len(X)),
                       seed=cfg.seed, log_every=max(1, cfg.n_steps // 10), progress=progress)
    train(sae, X, tcfg)
    save_checkpoint(folder, sae, cfg=tcfg)
    atomic_write_json(folder / "dm_scale.json", {"scale": scale, "config":
                                                 dataclasses.asdict(cfg)})


def lm_saes(
    widths: Sequence[int],
    *,
    k: int = 32,
    kind: str = "topk",
    n_tokens: int,
    n_steps: int,
    seed: int = 0,
    site: str = "resid.15",
    batch_size: int = 1024,
    lr: float = 3e-3,
    progress: bool = False,
) -> list[LMSAE]:
    """Train (or load from the run cache) one SmolLM2 SAE per width.

    Parameters
    ----------
    widths : sequence of int
        Latents of each SAE (the paper's analogue: 1,152 ... 9,216 = 2x ... 16x d).
    k : int, default=32
        Active latents per token (TopK) or their mean (BatchTopK).
    kind : {"topk", "batchtopk"}, default="topk"
    n_tokens : int
        Store size (:data:`LM_TOKENS` of the preset).
    n_steps : int
        Optimizer steps per SAE (batch ``batch_size``).
    seed : int, default=0
    site : str, default="resid.15"
        ``"resid.15"`` (the store), or ``"resid.14"``, ``"mlp.15"``, ``"heads.15"`` (the
        earlier components of Fig. 10b, extracted on the same windows).
    batch_size : int, default=1024
    lr : float, default=3e-3
    progress : bool, default=False

    Returns
    -------
    list of LMSAE
        In the order of ``widths``.
    """
    if isinstance(widths, int) or not len(widths):
        raise ValueError(f"widths must be a non-empty sequence of ints, got {widths!r}")
    store = dm_store(n_tokens)
    out = []
    for w in widths:
        cfg = LMSAEConfig(width=w, k=k, kind=kind, n_tokens=n_tokens, site=site,
                          n_steps=n_steps, batch_size=batch_size, lr=lr, seed=seed)
        folder = _folder(cfg, store)
        if not (folder / "dm_scale.json").is_file():
            _train_one(cfg, store, folder, progress)
        out.append(_load(folder, cfg))
    return out


def _load(folder: Path, cfg: LMSAEConfig) -> LMSAE:
    from mplib.sae import load_model

    sae = load_model(folder).eval()
    scale = float(json.loads((folder / "dm_scale.json").read_text())["scale"])
    return LMSAE(cfg.width, cfg.k, cfg.kind, cfg.site, sae, scale, folder, cfg)


@torch.no_grad()
def sae_codes(entry: LMSAE, X: np.ndarray | torch.Tensor, *, batch: int = 8192) -> torch.Tensor:
    """Codes (float32 torch, ``(T, width)``, in the SAE's scale) of raw activations ``X``."""
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    out = [entry.sae.encode(X[i:i + batch].float() * entry.scale)
           for i in range(0, len(X), batch)]
    return torch.cat(out) if out else torch.zeros(0, entry.width)


@torch.no_grad()
def sae_reconstruct(entry: LMSAE, X: np.ndarray | torch.Tensor, *, batch: int = 8192):
    """Reconstruction of raw activations ``X`` (raw scale; numpy float64 in -> float64 out).

    Returns
    -------
    (X_hat, l0)
        ``X_hat`` like ``X`` (numpy float64 for numpy input, torch of X's dtype otherwise) and
        the per-token number of active latents (int64, same library as ``X_hat``).
    """
    is_np = not isinstance(X, torch.Tensor)
    Xt = torch.as_tensor(np.asarray(X)) if is_np else X
    hats, l0s = [], []
    for i in range(0, len(Xt), batch):
        xb = Xt[i:i + batch].float() * entry.scale
        z = entry.sae.encode(xb)
        hats.append(entry.sae.decode(z).double() / entry.scale)
        l0s.append((z != 0).sum(-1))
    X_hat = torch.cat(hats) if hats else torch.zeros(0, Xt.shape[1], dtype=torch.float64)
    l0 = torch.cat(l0s) if l0s else torch.zeros(0, dtype=torch.long)
    if is_np:
        return X_hat.numpy(), l0.numpy()
    return X_hat.to(Xt.dtype), l0


def lm_analysis_arrays(
    saes: Sequence[LMSAE],
    *,
    n_tokens: int,
    site: str = "resid.15",
    split: str = "eval",
    max_tokens: int | None = None,
    seed: int = 0,
) -> LMAnalysis:
    """Analysis arrays: raw ``X`` and each SAE's raw-scale ``X_hat`` (float64).

    Parameters
    ----------
    saes : sequence of LMSAE
        From :func:`lm_saes` (all trained at ``site``; may be empty).
    n_tokens : int
        Store size.
    site : str, default="resid.15"
    split : str, default="eval"
        The analysis split (the SAE-training split is ``"train"``; ``"all"`` takes both, for
        stores too small for a d x d regression on the analysis split alone: smoke only).
    max_tokens : int, optional
        Keep a seeded random subset of this many tokens (sorted by store row).
    seed : int, default=0
        Seeds that subset.

    Returns
    -------
    LMAnalysis
    """
    for e in saes:
        if e.site != site:
            raise ValueError(f"saes: an SAE of site {e.site!r} given for site={site!r}")
    store = dm_store(n_tokens)
    rows = site_rows(store, split)
    if max_tokens is not None and max_tokens < len(rows):
        pick = np.random.default_rng(seed).choice(len(rows), max_tokens, replace=False)
        rows = rows[np.sort(pick)]
    X = np.asarray(_site_matrix(store, site)[rows], dtype=np.float64)
    hats, l0s = [], []
    for e in saes:
        h, l0 = sae_reconstruct(e, X)
        hats.append(h)
        l0s.append(l0)
    idx = store.index
    windows = (np.asarray(idx["doc"])[rows].astype(np.int64) * 100_000
               + np.asarray(idx["window"])[rows])
    return LMAnalysis(X, hats, l0s, rows, np.asarray(idx["token_id"])[rows],
                      np.asarray(idx["position"])[rows], windows)


# ------------------------------------------------------------------------------ other sites
def _windows(store) -> list[tuple[int, int, np.ndarray]]:
    """List the store's windows in order: (first row, length, token ids)."""
    idx = store.index
    win = np.asarray(idx["doc"]).astype(np.int64) * 100_000 + np.asarray(idx["window"])
    starts = np.flatnonzero(np.r_[True, win[1:] != win[:-1]])
    stops = np.r_[starts[1:], len(win)]
    tok = np.asarray(idx["token_id"])
    return [(int(a), int(b - a), tok[a:b]) for a, b in zip(starts, stops)]


class _Stop(Exception):
    pass


def _site_hooks(lm, sites: Sequence[str], box: dict[str, list], stop_block: int | None):
    """Register forward (pre-)hooks collecting each site; raise _Stop after ``stop_block``."""
    layers = lm.model.model.layers
    handles = []
    for site in sites:
        kind, b = site.split(".")
        b = int(b)
        if kind not in ("resid", "mlp", "attn", "heads") or not 1 <= b <= len(layers):
            raise ValueError(f"sites: expected resid.b, mlp.b, attn.b or heads.b with "
                             f"1 <= b <= {len(layers)}, got {site!r}")
        layer = layers[b - 1]
        if kind == "heads":  # the heads concatenated before the output projection
            def pre(module, args, site=site):
                box[site].append(args[0].detach())
            handles.append(layer.self_attn.o_proj.register_forward_pre_hook(pre))
            continue
        mod = {"resid": layer, "mlp": layer.mlp, "attn": layer.self_attn}[kind]

        def hook(module, args, output, site=site):
            box[site].append((output[0] if isinstance(output, tuple) else output).detach())
        handles.append(mod.register_forward_hook(hook))
    if stop_block is not None:
        def stop(module, args, output):
            raise _Stop
        handles.append(layers[stop_block - 1].register_forward_hook(stop))
    return handles


def site_arrays(n_tokens: int, sites: Sequence[str], *, loss: bool = False,
                lm: Any = None) -> dict[str, np.ndarray]:
    """Activations at other sites on exactly the store's windows (rows aligned with it).

    Runs SmolLM2 over the windows of :func:`dm_store` (8 windows per pass, right-padded and
    masked, as the store was extracted) with hooks on the requested sites, and caches the
    result under ``data/cache/dark_matter_lm/``, one file per site (missing sites of one
    call are computed in one pass).

    Parameters
    ----------
    n_tokens : int
        Store size.
    sites : sequence of str
        ``"resid.b"`` (output of ``layers[b-1]`` = ``hidden_states[b]``), ``"mlp.b"``,
        ``"attn.b"`` (sub-layer outputs of block ``b``) and ``"heads.b"``: block ``b``'s
        attention heads concatenated **before** the output projection (input of
        ``layers[b-1].self_attn.o_proj``, 9 heads x 64 = 576), the analogue of the paper's
        ``attn.hook_z``.
    loss : bool, default=False
        Also return ``"loss"``: (n_tokens,) float32 next-token cross-entropy of the unmodified
        model at each position (NaN at a window's last position). Runs the whole model.
    lm : CausalLM, optional

    Returns
    -------
    dict of str to ndarray
        fp16 ``(n_tokens, d)`` per site (and ``"loss"``).
    """
    from mplib.repro import atomic_write, cache_dir

    store = dm_store(n_tokens)
    want = sorted(set(sites)) + (["loss"] if loss else [])
    skey = store.manifest.get("key")
    path = {s: cache_dir("dark_matter_lm") / f"site-{s}-{cache_key('dm-site', skey, s)}.npy"
            for s in want}
    missing = [s for s in want if not path[s].exists()]
    if missing:
        got = _extract_sites(store, [s for s in missing if s != "loss"], "loss" in missing, lm)
        for s in missing:
            atomic_write(path[s], lambda f, s=s: np.save(f, got[s]))
    return {s: np.load(path[s]) for s in want}


@torch.no_grad()
def _extract_sites(store, sites, loss: bool, lm) -> dict[str, np.ndarray]:
    from mplib.models import load_smollm2

    lm = load_smollm2() if lm is None else lm
    stop = None if loss or not sites else max(int(s.split(".")[1]) for s in sites)
    box: dict[str, list] = {s: [] for s in sites}
    handles = _site_hooks(lm, sites, box, stop)
    out = {s: np.zeros((store.n_tokens, store.d), np.float16) for s in sites}
    losses = np.full(store.n_tokens, np.nan, np.float32)
    pad = lm.tokenizer.pad_token_id or 0
    wins = _windows(store)
    try:
        for j in range(0, len(wins), 8):
            group = wins[j:j + 8]
            T = max(n for _, n, _ in group)
            ids = torch.full((len(group), T), pad, dtype=torch.long)
            mask = torch.zeros((len(group), T), dtype=torch.long)
            for r, (_, n, tok) in enumerate(group):
                ids[r, :n] = torch.as_tensor(tok.astype(np.int64))
                mask[r, :n] = 1
            for v in box.values():
                v.clear()
            try:
                logits = lm.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            except _Stop:
                logits = None
            for r, (a, n, _) in enumerate(group):
                for s in sites:
                    out[s][a:a + n] = box[s][0][r, :n].float().numpy().astype(np.float16)
                if logits is not None and n > 1:
                    ce = torch.nn.functional.cross_entropy(logits[r, :n - 1].float(),
                                                           ids[r, 1:n], reduction="none")
                    losses[a:a + n - 1] = ce.numpy()
    finally:
        for h in handles:
            h.remove()
    if loss:
        out["loss"] = losses
    return out


# ------------------------------------------------------------------------------ analyses
def _nonlinear_fvu(X: np.ndarray, X_hat: np.ndarray, *, seed: int) -> dict[str, float]:
    """FVU of ``X_hat`` and of ``X_hat + X a`` (``a`` fitted on a seeded half, no intercept).

    ``held_out``: scored on the other half (primary); ``as_coded``: on all tokens (the
    paper's practice, about half of them in-sample).
    """
    from mplib.metrics import fit_error_map, fvu

    fit = fit_error_map(X, X - X_hat, n_fit=0.5, n_eval=None, seed=seed)
    lin = X @ fit.coef
    ev = fit.eval_index
    return {"fvu": float(fvu(X[ev], X_hat[ev])),
            "nonlinear_fvu": float(fvu(X[ev], X_hat[ev] + lin[ev])),
            "nonlinear_fvu_as_coded": float(fvu(X, X_hat + lin)),
            "error_r2": float(fit.r2)}


def pursuit_analysis(entry: LMSAE, X: np.ndarray, X_hat: np.ndarray, l0: np.ndarray, *,
                     seed: int = 0, batch_size: int = 1024) -> dict[str, Any]:
    """Fig. 10a: the SAE's own decoder with gradient pursuit at the SAE's per-token L0.

    Pursuit runs in the SAE's scale (``x * scale``, bias removed and added back by
    :func:`mplib.pursuit.sae_gradient_pursuit`) with each token's budget equal to its SAE L0;
    the reconstruction is mapped back to the raw scale. Returns the FVU and nonlinear FVU of
    the SAE and of the pursuit (each with its own re-fitted linear map), and the L0s.
    """
    from mplib.pursuit import sae_gradient_pursuit

    W = entry.sae.dictionary.detach().double().numpy()
    b = entry.sae.b_dec.detach().double().numpy().reshape(-1)
    res = sae_gradient_pursuit(X * entry.scale, W, np.asarray(l0, np.int64), b_dec=b,
                               batch_size=batch_size)
    gp_hat = res.reconstruction / entry.scale
    return {"sae": _nonlinear_fvu(X, X_hat, seed=seed),
            "pursuit": _nonlinear_fvu(X, gp_hat, seed=seed),
            "l0_sae": float(np.mean(l0)), "l0_pursuit": float(np.mean(res.n_nonzero)),
            "budget_respected": bool((res.n_nonzero <= l0).all())}


def earlier_sites_r2(X: np.ndarray, X_hat: np.ndarray,
                     predictors: dict[str, np.ndarray], *, seed: int = 0) -> dict[str, Any]:
    """Fig. 10b: predict the SAE error, its linear and nonlinear parts from reconstructions.

    The error map ``a`` (``x -> e``) is fitted on a seeded half and applied to all tokens;
    each predictor (an SAE reconstruction at some site, raw scale) then regresses each
    target by OLS without intercept, fitted on a seeded half, held-out :func:`r2_per_dim`.
    """
    from mplib.metrics import decompose_error, fit_error_map

    fit = fit_error_map(X, X - X_hat, n_fit=0.5, n_eval=None, seed=seed)
    parts = decompose_error(X, X_hat, fit)
    targets = {"error": parts.error, "linear": parts.linear, "nonlinear": parts.nonlinear}
    out: dict[str, Any] = {}
    for name, P in predictors.items():
        out[name] = {t: float(fit_error_map(P, Y, n_fit=0.5, n_eval=None, seed=seed).r2)
                     for t, Y in targets.items()}
    return out


def norm_baselines(X: np.ndarray, X_hat: np.ndarray, *, loss: np.ndarray, l0: np.ndarray,
                   token_ids: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Fig. 13: R² of predicting ``‖e‖²`` from x and from simple baselines.

    Each regression has an intercept (as the paper's Fig. 13 script), fitted on a seeded half
    and scored on the other: ``x``; ``‖x‖``; the model's per-token loss; the SAE's L0. The
    token-type baseline predicts each token's mean ``‖e‖²`` over tokens of the same id:
    ``token_mean_in_sample`` computes and scores it on all tokens (the paper's practice),
    ``token_mean_held_out`` computes the means on the fit half (global mean for ids unseen
    there) and scores on the other.
    """
    from mplib.metrics import fit_error_map, r2_per_dim

    y = ((X - X_hat) ** 2).sum(1)
    preds = {"x": X, "norm_x": np.linalg.norm(X, axis=1, keepdims=True),
             "loss": np.asarray(loss, np.float64)[:, None],
             "l0": np.asarray(l0, np.float64)[:, None]}
    out = {k: float(fit_error_map(P, y, n_fit=0.5, n_eval=None, intercept=True,
                                  seed=seed).r2) for k, P in preds.items()}
    ids = np.asarray(token_ids)
    uniq, inv = np.unique(ids, return_inverse=True)
    means = np.bincount(inv, weights=y) / np.bincount(inv)
    out["token_mean_in_sample"] = float(r2_per_dim(y, means[inv]))
    perm = np.random.default_rng(seed).permutation(len(y))
    fit, ev = perm[: len(y) // 2], perm[len(y) // 2:]
    s = np.bincount(inv[fit], weights=y[fit], minlength=len(uniq))
    c = np.bincount(inv[fit], minlength=len(uniq))
    m = np.where(c > 0, s / np.maximum(c, 1), y[fit].mean())
    out["token_mean_held_out"] = float(r2_per_dim(y[ev], m[inv[ev]]))
    return out


VARIANTS = ("original", "sae", "sae_plus_linear", "sae_plus_nonlinear")
"""Fig. 9 splices: x, x̂, x̂ + x a, x̂ + (x − x̂ − x a) = x − x a."""


@torch.no_grad()
def downstream_ce(entry: LMSAE, *, n_tokens: int, max_windows: int = 16,
                  max_positions: int = 256, seed: int = 0, split: str = "eval",
                  lm: Any = None) -> dict[str, Any]:
    """Fig. 9: next-token loss with the SAE output (and each error part) spliced in.

    The analysis windows are split in two halves by a seeded permutation of windows. The map
    ``a`` (``x -> x − x̂``, OLS, no intercept) is fitted on every position >= 16 of the fit
    half; on up to ``max_windows`` windows of the score half a forward hook replaces the
    output of ``model.model.layers[14]`` (``resid.15``) at positions >= 16 by each variant of
    :data:`VARIANTS`, the linear part computed in the hook from the live activation. The loss
    is the mean cross-entropy of the predictions made at positions >= 16. ``max_positions``
    truncates each scored window (the model is causal: earlier positions are unaffected), to
    bound the cost (a forward pass is about 0.27 GFLOP per token and variant).

    Returns
    -------
    dict
        ``loss`` per variant; ``recovered_percent`` = ``(L_sae − L_v) / (L_sae − L_orig)
        · 100`` for the two parts; ``r2_share_percent`` (our definition:
        ``(R²_v − R²_sae) / (1 − R²_sae) · 100`` with R² = 1 − FVU on the fit half) and norm
        shares ``Σ‖part‖ / Σ‖e‖`` and ``Σ‖part‖² / Σ‖e‖²``; ``n_windows``, ``n_predictions``.
    """
    from mplib.metrics import decompose_error, fit_error_map, fvu
    from mplib.models import load_smollm2, replace_site

    store = dm_store(n_tokens)
    rows = site_rows(store, split)
    idx = store.index
    win = np.asarray(idx["doc"]).astype(np.int64)[rows] * 100_000 + np.asarray(
        idx["window"])[rows]
    uniq = np.unique(win)
    perm = np.random.default_rng(seed).permutation(len(uniq))
    fit_w = uniq[perm[: len(uniq) // 2]]
    score_w = uniq[perm[len(uniq) // 2:]][:max_windows]
    fr = rows[np.isin(win, fit_w)]
    X = np.asarray(store.array[fr], np.float64)
    X_hat, _ = sae_reconstruct(entry, X)
    fit = fit_error_map(X, X - X_hat, n_fit="all")
    parts = decompose_error(X, X_hat, fit)
    a = torch.from_numpy(fit.coef).float()
    lm = load_smollm2() if lm is None else lm
    chosen = set(score_w.tolist())
    windows = [(a, min(n, max_positions), tok[:max_positions]) for a, n, tok in _windows(store)
               if int(idx["doc"][a]) * 100_000 + int(idx["window"][a]) in chosen]
    losses = {v: [] for v in VARIANTS}
    mode = {"v": "original"}

    def splice(h: torch.Tensor) -> torch.Tensor:
        if mode["v"] == "original":
            return h
        x = h[:, DM_FIRST_POSITION:]
        flat = x.reshape(-1, x.shape[-1])
        xh = sae_reconstruct(entry, flat)[0].reshape(x.shape)
        new = {"sae": xh, "sae_plus_linear": xh + x @ a, "sae_plus_nonlinear": x - x @ a}
        out = h.clone()
        out[:, DM_FIRST_POSITION:] = new[mode["v"]]
        return out

    pad = lm.tokenizer.pad_token_id or 0
    with replace_site(lm, "resid.15", splice):
        for j in range(0, len(windows), 8):
            group = windows[j:j + 8]
            T = max(n for _, n, _ in group)
            ids = torch.full((len(group), T), pad, dtype=torch.long)
            mask = torch.zeros((len(group), T), dtype=torch.long)
            for r, (_, n, tok) in enumerate(group):
                ids[r, :n] = torch.as_tensor(tok.astype(np.int64))
                mask[r, :n] = 1
            keep = mask[:, DM_FIRST_POSITION + 1:].bool()
            for v in VARIANTS:
                mode["v"] = v
                logits = lm.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
                ce = torch.nn.functional.cross_entropy(
                    logits[:, DM_FIRST_POSITION:-1].transpose(1, 2).float(),
                    ids[:, DM_FIRST_POSITION + 1:], reduction="none")
                losses[v].append(ce[keep])
    loss = {v: float(torch.cat(losses[v]).mean()) if losses[v] else math.nan for v in VARIANTS}
    gap = loss["sae"] - loss["original"]
    r2_sae = 1 - float(fvu(X, X_hat))
    share = {}
    for name, part in (("linear", parts.linear), ("nonlinear", parts.nonlinear)):
        r2_v = 1 - float(fvu(X, X_hat + part))
        share[name] = {
            "recovered_percent": (loss["sae"] - loss[f"sae_plus_{name}"]) / gap * 100,
            "r2_share_percent": (r2_v - r2_sae) / (1 - r2_sae) * 100,
            "norm_share_percent": float(np.linalg.norm(part, axis=1).sum()
                                        / np.linalg.norm(parts.error, axis=1).sum() * 100),
            "sq_norm_share_percent": float((part ** 2).sum() / (parts.error ** 2).sum() * 100),
        }
    return {"loss": loss, "parts": share, "n_windows": len(windows),
            "n_predictions": int(sum(len(t) for t in losses["original"])),
            "fit_tokens": len(fr)}
