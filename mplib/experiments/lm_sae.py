"""SAEs on a language model's residual stream, checkpoint by checkpoint (MP-SAE paper, Figs. 20–22).

The paper (Costa et al., 2025, App., Fig. 20) trains Vanilla (ReLU), TopK and MP-SAEs with
``p = 4d`` latents on the residual stream of a small TinyStories language model at training
L0 = 100 and evaluates every checkpoint ``t`` at every inference sparsity ``k'``:
``NMSE(t, k') = E ‖x̂_{t,k'} − x‖² / ‖x‖²`` (our averaging: mean of the per-token ratios).
Figs. 21–22 take the same SAEs: the Babel function of the dictionary (global, and over the
atoms co-selected for one input) and the effective rank of the codes against inference L0.

Recipe here (the data are an offline substitute, see :func:`mplib.activations.lm_store`):

1. Tokens: one activation store; position 0 of every window is dropped (it is an
   attention-sink outlier whose norm dwarfs the others: our choice). Train on the store's
   ``"train"`` split, evaluate on ``"eval"`` (split by whole document).
2. Standardisation (the paper's): per-feature population mean and standard deviation of the
   training tokens kept, then one scalar so that the mean norm is ``sqrt(d)``
   (:class:`mplib.activations.Standardization`, mode ``"zscore"``; statistics over the kept
   training tokens only). Errors are measured in this standardised space.
3. Models (:func:`make_lm_sae`): ``"relu"`` (the paper's Vanilla: L1 with its coefficient
   adapted to reach L0 ≈ k), ``"topk"`` (k), ``"mp"`` (tied MP, k steps, signed selection, raw
   correlation as coefficient: overcomplete's ``MpSAE``); atoms on the unit sphere after every
   step.
4. Training (:func:`lm_train_config`): the Fig. 20 recipe, Adam lr 1e-3, betas (0.9, 0.95),
   weight decay 1e-4, gradient clipping 1; on top, the warm-up and cosine decay of
   :meth:`mplib.sae.TrainConfig.large_scale` (the paper states no schedule: our choice).
   Snapshots at fixed fractions of the run are the checkpoints ``t``.
5. Inference sparsity (:func:`inference_curve`): MP runs ``k'`` pursuit steps; ReLU and TopK
   keep the ``k'`` largest-magnitude latents of their code (TopK: of its ReLU pre-activations,
   i.e. TopK with ``k'``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from mplib.activations import ActivationStore, Standardization, StoreBatches
from mplib.repro import cache_key, code_fingerprint, runs_dir

__all__ = [
    "LM_SAE_KINDS",
    "InferenceCurve",
    "LMData",
    "LMRun",
    "LMSAEConfig",
    "inference_curve",
    "lm_data",
    "lm_standardization",
    "lm_train_config",
    "make_lm_sae",
    "train_lm_sae",
]

LM_SAE_KINDS = ("relu", "topk", "mp")
"""The three SAEs of Fig. 20: Vanilla (ReLU + adaptive L1), TopK, MP."""


@dataclasses.dataclass(frozen=True)
class LMSAEConfig:
    """One SAE of the Fig. 20 sweep and how it is trained."""

    kind: str = "mp"
    """``"relu"`` (Vanilla), ``"topk"`` or ``"mp"``."""
    k: int = 16
    """Training L0: TopK's k, MP's steps, ReLU's L0 target (paper: 100)."""
    expansion: int = 4
    """Latents per input dimension (paper: 4, so p = 2,304 for d = 576)."""
    n_steps: int = 1000
    """Optimizer steps (paper: ~40,000)."""
    batch_size: int = 512
    """Tokens per step (paper: 5,000)."""
    lr: float = 1e-3
    """Peak learning rate (paper: Adam 1e-3)."""
    checkpoints: tuple[float, ...] = (0.0625, 0.125, 0.25, 0.5, 1.0)
    """Fractions of ``n_steps`` at which a snapshot is kept (1.0 = the final model)."""
    l1_coef: float = 0.3
    """ReLU: initial L1 coefficient (then adapted towards L0 = k)."""
    l1_rate: float = 0.03
    """ReLU: multiplicative adaptation per step of the L1 coefficient."""
    seed: int = 0
    """Seeds the initialisation and the batch order."""
    device: str = "cpu"
    """Where to train (``"cuda"`` for the paper-sized preset)."""

    def __post_init__(self) -> None:
        if self.kind not in LM_SAE_KINDS:
            raise ValueError(f"kind must be one of {LM_SAE_KINDS}, got {self.kind!r}")
        for name in ("k", "expansion", "n_steps", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        for name in ("lr", "l1_coef", "l1_rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (
                    math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive float, got {v!r}")
        if self.l1_rate >= 1:
            raise ValueError(f"l1_rate must be < 1, got {self.l1_rate!r}")
        cps = tuple(float(c) for c in self.checkpoints)
        if not cps or any(not 0 < c <= 1 for c in cps) or list(cps) != sorted(set(cps)):
            raise ValueError("checkpoints must be increasing fractions in (0, 1], got "
                             f"{self.checkpoints!r}")
        object.__setattr__(self, "checkpoints", cps)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a str, got {type(self.device).__name__}")

    def checkpoint_steps(self) -> list[int]:
        """Return the snapshot steps (distinct, at least 1, the last one ``n_steps``)."""
        steps = sorted({max(1, round(c * self.n_steps)) for c in self.checkpoints})
        if steps[-1] != self.n_steps:
            steps.append(self.n_steps)
        return steps

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field."""
        d = dataclasses.asdict(self)
        d["checkpoints"] = list(self.checkpoints)
        return d


# ---------------------------------------------------------------------------------------------
# data


class LMData(NamedTuple):
    """Tokens of one store with position 0 dropped, standardised (see the module docstring)."""

    train: torch.Tensor
    """(n_train, d) fp16 raw activations of the kept training tokens."""
    eval: torch.Tensor
    """(n_eval, d) float32 standardised evaluation tokens."""
    standardization: Standardization
    """Raw → SAE space (statistics of ``train``)."""
    identity: dict
    """What the data depend on (store folder, sizes, positions dropped): part of cache keys."""


def lm_standardization(X: torch.Tensor | np.ndarray, mode: str = "zscore",
                       chunk: int = 65536) -> Standardization:
    """Fit the paper's standardisation on the rows of ``X`` (our statistics, float64).

    ``"zscore"``: per-feature population mean and std (0 replaced by 1), then the scalar that
    makes the mean norm of the standardised rows ``sqrt(d)``; ``"scale"``: mean 0, std 1 and
    the scalar making the mean raw norm ``sqrt(d)``; ``"none"``: identity. The definitions of
    :meth:`mplib.activations.ActivationStore.standardization`, on a chosen set of rows.

    Parameters
    ----------
    X : Tensor or ndarray of shape (n, d)
    mode : {"zscore", "scale", "none"}, default="zscore"
    chunk : int, default=65536
        Rows converted to float64 at a time.

    Returns
    -------
    Standardization
    """
    if mode not in ("zscore", "scale", "none"):
        raise ValueError(f"mode must be 'zscore', 'scale' or 'none', got {mode!r}")
    X = torch.as_tensor(X)
    if X.dim() != 2 or X.shape[0] < 1:
        raise ValueError(f"X must have shape (n >= 1, d), got {tuple(X.shape)}")
    n, d = X.shape
    one, zero = torch.ones(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
    if mode == "none":
        return Standardization(mode, zero, one, 1.0)
    s1, s2, norms = zero.clone(), zero.clone(), 0.0
    for i in range(0, n, chunk):
        c = X[i:i + chunk].double()
        s1 += c.sum(0)
        s2 += (c * c).sum(0)
        norms += float(c.norm(dim=1).sum())
    if mode == "scale":
        return Standardization(mode, zero, one, math.sqrt(d) / (norms / n))
    mean = s1 / n
    std = (s2 / n - mean**2).clamp_min(0.0).sqrt()
    std = torch.where(std > 0, std, one)
    znorm = sum(float(((X[i:i + chunk].double() - mean) / std).norm(dim=1).sum())
                for i in range(0, n, chunk)) / n
    return Standardization(mode, mean, std, math.sqrt(d) / znorm)


def lm_data(store: ActivationStore, *, drop_positions: int = 1, standardize: str = "zscore",
            max_eval: int | None = None, seed: int = 0) -> LMData:
    """Training and evaluation tokens of ``store`` (splits ``"train"`` and ``"eval"``).

    Parameters
    ----------
    store : ActivationStore
    drop_positions : int, default=1
        Window positions ``< drop_positions`` are left out (1: drop position 0).
    standardize : {"zscore", "scale", "none"}, default="zscore"
    max_eval : int, optional
        Keep a seeded random subset of this many evaluation tokens (None: all).
    seed : int, default=0

    Returns
    -------
    LMData

    Notes
    -----
    A store too small for its eval split to hold a document (the smoke store: one document)
    holds out the last tenth of its training windows instead.
    """
    if isinstance(drop_positions, bool) or not isinstance(drop_positions, int) \
            or drop_positions < 0:
        raise ValueError(f"drop_positions must be a non-negative int, got {drop_positions!r}")
    pos = np.asarray(store.index["position"])
    rows = {s: (ids := store.split_ids(s))[pos[ids] >= drop_positions]
            for s in ("train", "eval")}
    if len(rows["eval"]) == 0:  # a tiny store (one document): hold out its last windows
        win = np.asarray(store.index["doc"]) * 10**6 + np.asarray(store.index["window"])
        wins = np.unique(win[rows["train"]])
        held = wins[-max(1, len(wins) // 10):]
        is_held = np.isin(win[rows["train"]], held)
        rows = {"train": rows["train"][~is_held], "eval": rows["train"][is_held]}
    if len(rows["train"]) == 0 or len(rows["eval"]) == 0:
        raise ValueError("store: no train or eval token left after dropping positions")
    if max_eval is not None and max_eval < len(rows["eval"]):
        pick = np.random.default_rng(seed).choice(len(rows["eval"]), max_eval, replace=False)
        rows["eval"] = rows["eval"][np.sort(pick)]
    arr = store.array
    train = torch.from_numpy(np.ascontiguousarray(arr[rows["train"]]))
    std = lm_standardization(train, standardize)
    ev = std.apply(torch.from_numpy(np.ascontiguousarray(arr[rows["eval"]])).double()).float()
    identity = {"store": Path(store.path).name, "n_tokens": store.n_tokens, "d": store.d,
                "splits": store.splits, "split_seed": store.split_seed,
                "drop_positions": drop_positions, "standardize": standardize,
                "n_train": len(rows["train"])}
    return LMData(train, ev, std, identity)


# ---------------------------------------------------------------------------------------------
# models and training


def make_lm_sae(cfg: LMSAEConfig, d: int):
    """Build the untrained SAE of ``cfg`` for inputs of dimension ``d``."""
    from mplib.sae import MPSAE, ReLUSAE, TopKSAE

    p = cfg.expansion * d
    if cfg.kind == "relu":
        return ReLUSAE(d, p, l1_coef=cfg.l1_coef, target_l0=float(cfg.k),
                       l1_rate=cfg.l1_rate, seed=cfg.seed, device=cfg.device)
    if cfg.kind == "topk":
        return TopKSAE(d, p, k=cfg.k, seed=cfg.seed, device=cfg.device)
    return MPSAE(d, p, k=cfg.k, threshold=None, stop_on_unchanged_support=False,
                 selection="signed", coefficient="correlation", seed=cfg.seed,
                 device=cfg.device)


def lm_train_config(cfg: LMSAEConfig, **overrides: Any):
    """Return the :class:`~mplib.sae.TrainConfig` of ``cfg`` (recipe in the module docstring)."""
    from mplib.sae import TrainConfig

    base = dict(lr=cfg.lr, optimizer="adam", betas=(0.9, 0.95), weight_decay=1e-4,
                grad_clip=1.0, decoder_norm="unit", batch_size=cfg.batch_size, seed=cfg.seed,
                final_lr_factor=0.1, progress=False, log_every=max(1, cfg.n_steps // 50))
    return TrainConfig.large_scale(cfg.n_steps, **{**base, **overrides})


class LMRun(NamedTuple):
    """One trained SAE and its snapshots."""

    cfg: LMSAEConfig
    folder: Path
    """``data/runs/lm_sae/<kind>-<key>/``: ``step-XXXXXXX/`` snapshots, ``latest/``."""
    steps: list[int]
    """Snapshot steps, increasing (the last one is the final model)."""
    history: dict[str, np.ndarray]
    """The trainer's history (loss, recon_loss, l0, lr, ... per logged step)."""

    def model(self, step: int | None = None):
        """Load the snapshot at ``step`` (None: the final model), in eval mode."""
        from mplib.sae import load_model

        step = self.steps[-1] if step is None else step
        if step not in self.steps:
            raise ValueError(f"step must be one of {self.steps}, got {step!r}")
        m = load_model(self.folder / f"step-{step:07d}", device=self.cfg.device)
        return m.eval()


def run_folder(cfg: LMSAEConfig, data: LMData, root: str | Path | None = None) -> Path:
    """Cache folder of one run; the key hashes the config, the data and the code."""
    code = code_fingerprint("sae", "pursuit/_mp.py", "pursuit/_mp_jit.py")
    key = cache_key(cfg.to_dict(), data.identity, lm_train_config(cfg).to_dict(), code)
    return Path(root or runs_dir() / "lm_sae") / f"{cfg.kind}-k{cfg.k}-{key}"


def train_lm_sae(cfg: LMSAEConfig, data: LMData, *, root: str | Path | None = None,
                 stop_after: int | None = None) -> LMRun:
    """Train one SAE with snapshots, or load it from its run folder; resumes a cut run.

    Parameters
    ----------
    cfg : LMSAEConfig
    data : LMData
    root : path, optional
        Parent of the run folders (default ``data/runs/lm_sae``).
    stop_after : int, optional
        Stop (checkpointed) after this many steps: for tests of resumption.

    Returns
    -------
    LMRun
    """
    from mplib.repro import atomic_write_json
    from mplib.sae import is_checkpoint, save_checkpoint, train

    folder = run_folder(cfg, data, root)
    steps = cfg.checkpoint_steps()
    done = folder / "history.json"
    snap = lambda s: folder / f"step-{s:07d}"  # noqa: E731
    if done.is_file() and all(is_checkpoint(snap(s)) for s in steps):
        return LMRun(cfg, folder, steps, _load_history(done))
    model = make_lm_sae(cfg, data.train.shape[1])
    tcfg = lm_train_config(cfg, checkpoint_dir=str(folder / "latest"),
                           checkpoint_every=max(1, min(steps[0], cfg.n_steps // 10)))
    batches = StoreBatches(data.train.to(cfg.device), cfg.batch_size, cfg.seed,
                           data.standardization, torch.float32)
    wanted = set(steps)

    class _Stop(Exception):
        pass

    def callback(step, model, out):
        if step + 1 in wanted and not is_checkpoint(snap(step + 1)):
            save_checkpoint(snap(step + 1), model)
        if stop_after is not None and step + 1 >= stop_after:
            raise _Stop

    try:
        result = train(model, batches, tcfg, resume=True, callback=callback)
    except _Stop:  # a cut run: its snapshots and latest checkpoint stay for the resume
        return LMRun(cfg, folder, [s for s in steps if is_checkpoint(snap(s))], {})
    history = {k: np.asarray(v).tolist() for k, v in result.history.items()}
    atomic_write_json(done, {"config": cfg.to_dict(), "data": data.identity,
                             "train": tcfg.to_dict(), "history": history})
    return LMRun(cfg, folder, steps, _load_history(done))


def _load_history(path: Path) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in json.loads(path.read_text())["history"].items()}


# ---------------------------------------------------------------------------------------------
# evaluation at inference sparsity


class InferenceCurve(NamedTuple):
    """Errors and codes of one SAE at inference sparsities ``ks`` (one row per ``k'``)."""

    ks: np.ndarray
    """(K,) inference sparsities ``k'``."""
    nmse: np.ndarray
    """(K,) mean over tokens of ``‖x̂ − x‖² / ‖x‖²``."""
    nmse_ratio_of_sums: np.ndarray
    """(K,) ``Σ‖x̂ − x‖² / Σ‖x‖²``."""
    fvu: np.ndarray
    """(K,) ``Σ‖x̂ − x‖² / Σ‖x − x̄‖²`` (``x̄`` the per-feature mean of the evaluation set)."""
    l0: np.ndarray
    """(K,) realised mean number of nonzero codes (MP: at most ``k'``, atoms may repeat)."""
    effective_rank: np.ndarray | None
    """(K,) effective rank of the codes of the first ``n_rank`` tokens, or None."""


def _steps_of(model, X: torch.Tensor, k_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Atoms and coefficients in the order inference adds them: (B, k_max) each."""
    from mplib.sae import MPSAE

    if isinstance(model, MPSAE):
        tr = model.pursuit_trace(X, k=k_max)
        idx, val = tr.indices, tr.values
        if idx.shape[-1] < k_max:  # every signal stopped early: pad with zero steps
            pad = k_max - idx.shape[-1]
            idx = torch.nn.functional.pad(idx, (0, pad))
            val = torch.nn.functional.pad(val, (0, pad))
        return idx, val
    z = model.encode(X, k=min(k_max, model.n_latents))
    mag, idx = z.abs().topk(min(k_max, z.shape[-1]), dim=-1, sorted=True)
    val = z.gather(-1, idx)
    return idx, val


def inference_curve(model, X: torch.Tensor, ks, *, n_rank: int | None = None,
                    chunk: int = 4096) -> InferenceCurve:
    """NMSE, FVU, L0 and effective rank of ``model`` on ``X`` at each inference ``k'``.

    One pass at ``k_max = max(ks)``: MP's first ``k'`` pursuit steps are exactly its ``k'``-step
    pursuit, and the ``k'`` largest latents of a ReLU/TopK code are the first ``k'`` of its
    ``k_max`` largest (TopK: with ``k'`` ReLU pre-activations kept). Reconstructions are built
    by adding those atoms one at a time to the decoder's bias.

    Parameters
    ----------
    model : MPSAE, TopKSAE or ReLUSAE (unbatched)
    X : Tensor of shape (n, d)
        Inputs in the SAE's space (standardised).
    ks : sequence of int
        Inference sparsities, each >= 1.
    n_rank : int, optional
        Effective rank of the codes of the first ``n_rank`` rows (None: not computed).
    chunk : int, default=4096
        Rows per pass.

    Returns
    -------
    InferenceCurve
    """
    from mplib.metrics import effective_rank
    from mplib.pursuit import dense_codes

    ks = np.asarray(sorted({int(k) for k in ks}))
    chunk = max(chunk, n_rank or 0)
    if ks.size == 0 or ks[0] < 1:
        raise ValueError(f"ks must be inference sparsities >= 1, got {ks.tolist()}")
    k_max = int(ks[-1])
    X = X.to(model.decoder_weight.dtype)
    D = model.dictionary.detach()
    n_atoms = D.shape[0]
    with torch.no_grad():
        base = model.decode(torch.zeros(1, n_atoms, dtype=D.dtype, device=D.device))[0]
        xbar = X.mean(0)
        err = torch.zeros(len(ks), dtype=torch.float64)
        ratio = torch.zeros(len(ks), dtype=torch.float64)
        l0 = torch.zeros(len(ks), dtype=torch.float64)
        sq = float((X.double() ** 2).sum())
        var = float(((X.double() - xbar.double()) ** 2).sum())
        erank = np.full(len(ks), np.nan) if n_rank else None
        for lo in range(0, X.shape[0], chunk):
            x = X[lo:lo + chunk]
            idx, val = _steps_of(model, x, k_max)
            r = x - base
            x2 = (x.double() ** 2).sum(-1)
            want = {int(k): i for i, k in enumerate(ks)}
            for s in range(k_max):
                r = r - val[:, s:s + 1] * D.index_select(0, idx[:, s])
                if s + 1 in want:
                    i = want[s + 1]
                    e = (r.double() ** 2).sum(-1)
                    err[i] += float(e.sum())
                    ratio[i] += float((e / x2.clamp_min(1e-300)).sum())
                    z = dense_codes(idx[:, : s + 1], val[:, : s + 1], n_atoms)
                    l0[i] += float((z != 0).sum())
                    if n_rank and lo == 0:
                        erank[i] = float(effective_rank(z[:n_rank]))
    n = X.shape[0]
    return InferenceCurve(ks, (ratio / n).numpy(), (err / sq).numpy(), (err / var).numpy(),
                          (l0 / n).numpy(), erank)
