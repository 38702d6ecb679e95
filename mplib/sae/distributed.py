"""Data-parallel SAE training on ``torch.distributed``: :func:`train_distributed`.

Every rank holds a full replica of the model and trains on its own slice of each global batch;
PyTorch's :class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients over the
ranks during the backward pass (NCCL on GPU, gloo on CPU). The losses of mplib's SAEs are means
over the samples of a batch, so the averaged gradient of ``world_size`` equal slices is the
gradient of the whole global batch: the replicas take the optimizer step that one process would
take on the global batch, and stay identical (up to float rounding of the all-reduce).

Launch one process per device with ``torchrun``; a script calls :func:`train_distributed`
where it would call :func:`mplib.sae.train`::

    torchrun --nproc-per-node 2 my_training_script.py

Rank 0 alone writes the checkpoints (atomically, as :func:`~mplib.sae.save_checkpoint` always
does). After a rank is killed, ``torchrun --max-restarts N`` restarts every rank and each one
resumes from rank 0's latest checkpoint, so the run continues where it was saved.

The SAE's training step is a method, not a module's ``forward``: it is routed through the DDP
wrapper (whose ``forward`` prepares the gradient reduction) for the duration of the call, so
:func:`mplib.sae.train` runs unchanged: schedules, clipping (on the averaged gradient),
projection and logging are those of one process.

Model families whose training step uses statistics of the whole batch (BatchTopK's batch-level
top-k, Matryoshka's batch statistics) see only their slice on each rank: for those, distributed
training is data-parallel SGD, not equal to one process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist

from mplib.sae.base import BaseSAE
from mplib.sae.config import TrainConfig
from mplib.sae.io import is_checkpoint
from mplib.sae.train import TrainResult, _batches, train

__all__ = ["ShardedBatches", "init_distributed", "train_distributed"]


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes (idempotent); return (rank, world).

    Parameters
    ----------
    backend : {"gloo", "nccl"}, optional
        None picks NCCL when CUDA is available, gloo otherwise.

    Returns
    -------
    rank, world_size : int
        ``(0, 1)`` when the script was not launched by ``torchrun`` (no ``RANK`` set).
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if "RANK" not in os.environ:
        return 0, 1
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    # One key space per torchrun restart: after a killed rank, the restarted ranks would
    # otherwise read the dead round's addresses from the store and fail to connect.
    agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world,
                          is_master=rank == 0 and not agent_store)
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    store = dist.PrefixStore(f"mplib-round-{restart}", store)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world)
    return rank, world


class ShardedBatches:
    """Slice of every global batch that belongs to one rank of ``batches`` (along the sample axis).

    Rank ``r`` of ``world_size`` takes samples ``[r·b, (r+1)·b)`` of each global batch of
    ``world_size·b`` samples; every rank draws the same global batches (same seed), so the
    slices partition each one. ``state_dict`` / ``load_state_dict`` pass through, so a resumed
    run continues the stream exactly.
    """

    def __init__(self, batches: Iterator[torch.Tensor], rank: int, world_size: int):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, {world_size}), got {rank}")
        self.batches, self.rank, self.world_size = batches, rank, world_size

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self

    def __next__(self) -> torch.Tensor:
        x = next(self.batches)
        n = x.shape[-2]
        if n % self.world_size:
            raise ValueError(
                f"the global batch ({n} samples) must divide evenly over {self.world_size} ranks"
            )
        b = n // self.world_size
        return x[..., self.rank * b : (self.rank + 1) * b, :]

    def state_dict(self) -> dict[str, Any]:
        """Return the wrapped stream's position."""
        return self.batches.state_dict() if hasattr(self.batches, "state_dict") else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the wrapped stream's position."""
        if hasattr(self.batches, "load_state_dict"):
            self.batches.load_state_dict(state)


class _Step(torch.nn.Module):
    """The SAE's training step as a module ``forward``, so DDP can wrap it."""

    def __init__(self, model: BaseSAE):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, step: int, n_steps: int):
        return type(self.model).training_step(self.model, x, step, n_steps)


@contextlib.contextmanager
def _through_ddp(model: BaseSAE, ddp: torch.nn.Module):
    # An instance attribute shadows the method, so train() steps through DDP. A plain function
    # (not the module itself), else nn.Module would register DDP as the model's child.
    model.__dict__["training_step"] = lambda x, step, n_steps: ddp(x, step, n_steps)
    try:
        yield
    finally:
        del model.__dict__["training_step"]


def train_distributed(
    model: BaseSAE,
    data: Any,
    cfg: TrainConfig | None = None,
    *,
    resume: bool = False,
    callback: Any = None,
    backend: str | None = None,
) -> TrainResult:
    """Train ``model`` data-parallel over the ``torchrun`` ranks (one process: plain train).

    Parameters
    ----------
    model : BaseSAE
        The same model (same config and seed) on every rank; rank 0's weights are broadcast.
    data : iterator of Tensor, or Tensor
        The *global* batches, as :func:`mplib.sae.train` takes them (every rank builds the
        same stream, e.g. the same seed); each rank keeps its slice (:class:`ShardedBatches`).
        The global batch size must divide evenly by the number of ranks.
    cfg : TrainConfig, optional
        As for :func:`mplib.sae.train`; only rank 0 writes ``cfg.checkpoint_dir``.
    resume : bool, default=False
        Every rank resumes from rank 0's checkpoint in ``cfg.checkpoint_dir`` when it holds one.
    callback : callable, optional
        ``callback(step, model, output)`` on every rank after each step.
    backend : {"gloo", "nccl"}, optional
        Process-group backend when this call initialises it (None: NCCL with CUDA, else gloo).

    Returns
    -------
    TrainResult
        This rank's result; the weights are the same on every rank.
    """
    if not isinstance(model, BaseSAE):
        raise TypeError(f"model must be an mplib SAE, got {type(model).__name__}")
    cfg = TrainConfig() if cfg is None else cfg
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be True or False, got {resume!r}")
    rank, world = init_distributed(backend)
    if world == 1:
        return train(model, data, cfg, resume=resume, callback=callback)
    resume_from: Any = False
    if resume:
        if cfg.checkpoint_dir is None:
            raise ValueError("resume=True needs cfg.checkpoint_dir (got None)")
        if is_checkpoint(cfg.checkpoint_dir):
            resume_from = cfg.checkpoint_dir
    if rank != 0:
        cfg = dataclasses.replace(cfg, checkpoint_dir=None, checkpoint_every=None, progress=False)
    device = next(model.parameters()).device
    ddp = torch.nn.parallel.DistributedDataParallel(
        _Step(model), device_ids=[device.index] if device.type == "cuda" else None,
    )
    batches = ShardedBatches(_batches(model, data, cfg), rank, world)
    with _through_ddp(model, ddp):
        result = train(model, batches, cfg, resume=resume_from, callback=callback)
    dist.barrier()
    return result
