"""Train one SAE or many at once (a batched model), with schedules, clipping and checkpoints.

A batched model (``n_models = M``) trains as one: one forward over ``(M, B, d)`` batches, the
sum of the per-run losses backpropagated (runs share no parameters, so each run's gradient is
its own), gradient clipping per run, and Adam over the stacked parameters (elementwise, hence
per run). Run ``m`` of a batch therefore follows the trajectory it would follow alone with
the same seed and data, up to float rounding.

Examples
--------
A sweep of 10 seeds of the toy MP-SAE::

    from mplib.datasets import ToySpec, ToyStream
    from mplib.sae import MPSAE, TrainConfig, train

    seeds = list(range(10))
    stream = ToyStream(ToySpec("mpsae", 0.3), seeds, batch_size=200)
    model = MPSAE(20, 20, seed=seeds, n_models=len(seeds))
    result = train(model, stream, TrainConfig(n_steps=15_000))
    run3 = model.get_run(3)            # a standalone model
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from mplib.sae.base import BaseSAE, SAEOutput
from mplib.sae.config import TrainConfig
from mplib.sae.io import is_checkpoint, load_checkpoint, save_checkpoint
from mplib.sae.schedules import lr_factor

__all__ = [
    "StackedStreams",
    "TensorBatches",
    "TrainResult",
    "clip_grad_norm_per_run",
    "train",
]


class TrainResult(NamedTuple):
    """What :func:`train` returns."""

    model: BaseSAE
    """The trained model (the same object that was passed in)."""
    history: dict[str, np.ndarray]
    """``"step"`` (n_logs,) and per-run series (n_logs, M) — (n_logs,) for unbatched models:
    interval means of ``loss``, ``recon_loss``, ``aux_loss``, ``l0``, the ``lr`` and the
    model's :meth:`~mplib.sae.base.BaseSAE.stats` at each log step."""
    steps_per_second: float
    """Optimizer steps per second in this call (all runs together)."""
    n_steps_run: int
    """Steps run in this call (fewer than ``cfg.n_steps`` after a resume)."""


class TensorBatches:
    """Shuffled mini-batches of a data tensor, one independent order per run.

    Run ``m`` walks epochs of its own random permutation, seeded by ``(seed, seeds[m], epoch)``,
    so its batches do not depend on which runs share the model. Random access by step makes
    resuming exact. The last incomplete batch of an epoch is dropped.

    Parameters
    ----------
    X : Tensor of shape (n, d) or (M, n, d)
        Shared data, or one data set per run.
    batch_size : int
    seeds : list of int
        The model's run seeds.
    seed : int, default=0
    batched : bool, default=True
        Yield (M, B, d); False yields (B, d) (one run).
    """

    def __init__(self, X: torch.Tensor, batch_size: int, seeds: list[int], *, seed: int = 0,
                 batched: bool = True):
        if not isinstance(X, torch.Tensor):
            raise TypeError(f"data must be a torch.Tensor or an iterator, got {type(X).__name__}")
        if X.dim() not in (2, 3) or (X.dim() == 3 and X.shape[0] != len(seeds)):
            raise ValueError(
                f"data must have shape (n, d) or (n_models={len(seeds)}, n, d), got "
                f"{tuple(X.shape)}"
            )
        n = X.shape[-2]
        if n < batch_size:
            raise ValueError(f"batch_size must be <= the number of samples {n}, got {batch_size}")
        self.X, self.batch_size, self.seeds, self.seed = X, batch_size, seeds, seed
        self.batched = batched
        self.per_epoch = n // batch_size
        self.step = 0
        self._epoch, self._order = -1, None

    def _orders(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            n = self.X.shape[-2]
            perms = []
            for s in self.seeds:
                ss = np.random.SeedSequence([self.seed, s, epoch]).generate_state(1)[0]
                g = torch.Generator().manual_seed(int(ss))
                perms.append(torch.randperm(n, generator=g))
            self._epoch, self._order = epoch, torch.stack(perms).to(self.X.device)
        return self._order

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self

    def __next__(self) -> torch.Tensor:
        epoch, pos = divmod(self.step, self.per_epoch)
        idx = self._orders(epoch)[:, pos * self.batch_size : (pos + 1) * self.batch_size]
        self.step += 1
        if self.X.dim() == 2:
            out = self.X[idx]
        else:
            out = torch.gather(self.X, 1, idx[..., None].expand(-1, -1, self.X.shape[-1]))
        return out if self.batched else out[0]

    def state_dict(self) -> dict[str, int]:
        """Position in the stream (steps drawn)."""
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Jump to a position saved by :meth:`state_dict`."""
        self.step = int(state["step"])


class StackedStreams:
    """Concatenate several batch streams along the runs dimension (one batched model).

    E.g. Table 1: nine toy distributions × 15 seeds as one 135-run model, each
    :class:`~mplib.datasets.ToyStream` yielding ``(n_runs_i, B, d)``.

    Parameters
    ----------
    *streams : iterators of Tensor (n_runs_i, B, d)

    Examples
    --------
    >>> from mplib.datasets import ToySpec, ToyStream
    >>> a = ToyStream(ToySpec("table1", child_mean=0.5, child_std=0.025), [0, 1], batch_size=4)
    >>> b = ToyStream(ToySpec("table1", child_mean=1.0, child_std=0.25), [0], batch_size=4)
    >>> next(StackedStreams(a, b)).shape
    torch.Size([3, 4, 20])
    """

    def __init__(self, *streams: Iterator[torch.Tensor]):
        if not streams:
            raise ValueError("streams must hold at least one stream")
        self.streams = streams

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self

    def __next__(self) -> torch.Tensor:
        return torch.cat([next(s) for s in self.streams], 0)


def clip_grad_norm_per_run(params: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Clip the gradients of each run (leading dim) to a total norm of ``max_norm``, in place.

    Same rule as :func:`torch.nn.utils.clip_grad_norm_` applied to each run alone: scale by
    ``min(1, max_norm / (norm + 1e-6))``.

    Returns
    -------
    Tensor of shape (M,)
        The norms before clipping.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(0)
    m = grads[0].shape[0]
    sq = torch.stack([g.reshape(m, -1).pow(2).sum(-1) for g in grads]).sum(0)
    norm = sq.sqrt()
    coef = (max_norm / (norm + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(m, *[1] * (g.dim() - 1)).to(g.dtype))
    return norm


def _optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    # fused: one kernel per parameter (CPU and CUDA); all runs' tensors are stacked already
    kw = dict(lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)
    try:
        return cls(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):
        return cls(params, foreach=True, **kw)


def _project(model: BaseSAE, mode: str) -> None:
    if mode == "none":
        return
    with torch.no_grad():
        w = model.decoder_weight
        norm = w.norm(dim=-1, keepdim=True)
        w.div_(norm.clamp_min(1.0) if mode == "ball" else norm.clamp_min(1e-12))


def _batches(model: BaseSAE, data: Any, cfg: TrainConfig) -> Iterator[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        return TensorBatches(data, cfg.batch_size, model.seeds, seed=cfg.seed,
                             batched=model.batched)
    if not hasattr(data, "__next__"):
        if hasattr(data, "__iter__"):
            return iter(data)
        raise TypeError(f"data must be a torch.Tensor or an iterator, got {type(data).__name__}")
    return data


class _Meter:
    """Interval means of per-run training quantities, kept on device (no host syncs)."""

    names = ("loss", "recon_loss", "aux_loss", "l0")

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, out: SAEOutput) -> None:
        with torch.no_grad():
            # nonzero count as a float sum of sign(|z|) (exact below 2**24 per run; a bool sum
            # copies the codes to int64 first)
            codes = out.codes.detach()
            l0 = codes.abs().sign_().sum((-2, -1)) / codes.shape[-2]
            vals = (out.loss, out.recon_loss, out.aux_loss, l0.to(out.loss.dtype))
            for name, v in zip(self.names, vals):
                v = v.detach().reshape(-1)
                self.sums[name] = self.sums[name] + v if name in self.sums else v.clone()
        self.count += 1

    def flush(self) -> dict[str, np.ndarray]:
        out = {k: (v / self.count).double().cpu().numpy() for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return out


def train(
    model: BaseSAE,
    data: Any,
    cfg: TrainConfig | None = None,
    *,
    resume: bool | str | os.PathLike = False,
    callback: Callable[[int, BaseSAE, SAEOutput], None] | None = None,
) -> TrainResult:
    """Train ``model`` (one SAE or a batched sweep) in place; it is left in eval mode.

    Each step: set the learning rate from the schedule, ``model.training_step`` (adaptive
    state updates), backpropagate the sum of the per-run losses, clip each run's gradient
    norm, Adam/AdamW step, ``model.post_step`` (latent re-sorting), decoder-norm projection.

    Speed: the step has no per-run Python loop and no host synchronisation outside the MP
    pursuit; tiny models are bound by per-operation overheads, so prefer one torch thread
    per process (``torch.set_num_threads(1)``) and a few hundred runs per batched model, or
    two processes on two cores (``benchmarks/bench_sae.py`` measures it).

    Parameters
    ----------
    model : BaseSAE
        Any mplib SAE; batched models train all their runs at once.
    data : iterator of Tensor, or Tensor
        An iterator yielding ``(n_models, B, d_in)`` batches (e.g.
        :class:`mplib.datasets.ToyStream`, one stream per run) or ``(B, d_in)`` batches (shared
        by all runs); or a data tensor ``(n, d_in)`` / ``(n_models, n, d_in)`` that is
        shuffled per run (:class:`TensorBatches`, ``cfg.batch_size``, ``cfg.seed``).
    cfg : TrainConfig, optional
        Defaults to ``TrainConfig()`` (the toy recipe).
    resume : bool or path-like, default=False
        Continue from a checkpoint: True reads ``cfg.checkpoint_dir`` (starting afresh when
        it holds none), a path reads that folder. Model weights and adaptive state, optimizer
        state, step and history are restored; the data resumes through its ``state_dict`` when
        it has one, otherwise by drawing and discarding the batches already used.
    callback : callable, optional
        ``callback(step, model, output)`` after every optimizer step.

    Returns
    -------
    TrainResult
    """
    if not isinstance(model, BaseSAE):
        raise TypeError(f"model must be an mplib SAE, got {type(model).__name__}")
    cfg = TrainConfig() if cfg is None else cfg
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    batches = _batches(model, data, cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _optimizer(params, cfg)
    history: dict[str, list] = {}
    start = _resume(model, opt, batches, cfg, resume, history)

    model.train()
    meter = _Meter()
    bar = tqdm(total=cfg.n_steps, initial=start, disable=not cfg.progress, leave=False,
               desc=type(model).__name__)
    t0 = time.perf_counter()
    step = start
    for step in range(start, cfg.n_steps):
        x = next(batches)
        if not model.batched and x.dim() == 3 and x.shape[0] == 1:
            x = x[0]  # a one-seed stream feeding an unbatched model
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(cfg, step)
        out = model.training_step(x, step, cfg.n_steps)
        opt.zero_grad(set_to_none=True)
        out.loss.sum().backward()
        if cfg.grad_clip is not None:
            clip_grad_norm_per_run(params, cfg.grad_clip)
        opt.step()
        model.post_step(opt)
        _project(model, cfg.decoder_norm)
        meter.add(out)
        if callback is not None:
            callback(step, model, out)
        last = step + 1 == cfg.n_steps
        if (step + 1) % cfg.log_every == 0 or last:
            _log(history, step, meter, model, opt)
            bar.update(step + 1 - bar.n)
            bar.set_postfix(loss=float(np.mean(history["loss"][-1])))
        if cfg.checkpoint_dir is not None and (
            last or (cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0)
        ):
            _save(model, opt, batches, cfg, step + 1, history)
    bar.close()
    elapsed = time.perf_counter() - t0
    run = cfg.n_steps - start
    model.eval()
    return TrainResult(model, _as_arrays(history, model.batched),
                       run / elapsed if elapsed > 0 and run else math.nan, run)


def _log(history: dict[str, list], step: int, meter: _Meter, model: BaseSAE, opt) -> None:
    history.setdefault("step", []).append(step + 1)
    history.setdefault("lr", []).append(opt.param_groups[0]["lr"])
    for name, v in meter.flush().items():
        history.setdefault(name, []).append(v)
    for name, v in model.stats().items():
        history.setdefault(name, []).append(v.detach().double().cpu().numpy())


def _as_arrays(history: dict[str, list], batched: bool) -> dict[str, np.ndarray]:
    out = {}
    for k, v in history.items():
        arr = np.asarray(v)
        if not batched and arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        out[k] = arr
    return out


def _save(model, opt, batches, cfg: TrainConfig, next_step: int, history) -> None:
    state = {"step": next_step, "optimizer": opt.state_dict(), "history": history}
    if hasattr(batches, "state_dict"):
        state["data"] = batches.state_dict()
    save_checkpoint(cfg.checkpoint_dir, model, cfg=cfg, train_state=state)


def _resume(model, opt, batches, cfg: TrainConfig, resume, history) -> int:
    if resume is False or resume is None:
        return 0
    if resume is True:
        if cfg.checkpoint_dir is None:
            raise ValueError("resume=True needs cfg.checkpoint_dir (got None)")
        path = Path(cfg.checkpoint_dir)
        if not is_checkpoint(path):
            return 0
    else:
        path = Path(resume)
    ck = load_checkpoint(path, device=next(model.parameters()).device)
    if ck.model.config() != model.config():
        raise ValueError(
            f"resume: the checkpoint's model config {ck.model.config()} differs from the "
            f"model's {model.config()}"
        )
    if ck.train_state is None:
        raise ValueError(f"resume: {str(path)!r} holds no training state")
    model.load_state_dict(ck.model.state_dict())
    opt.load_state_dict(ck.train_state["optimizer"])
    history.update({k: list(v) for k, v in ck.train_state["history"].items()})
    start = int(ck.train_state["step"])
    if start > cfg.n_steps:
        raise ValueError(f"resume: checkpoint is at step {start} > cfg.n_steps={cfg.n_steps}")
    if "data" in ck.train_state and hasattr(batches, "load_state_dict"):
        batches.load_state_dict(ck.train_state["data"])
    else:
        for _ in range(start):
            next(batches)
    return start
