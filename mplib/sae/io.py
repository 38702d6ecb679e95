"""Checkpoints: one folder of weights + configs, written atomically with a ``.done`` marker.

Layout of a checkpoint folder::

    model.json        the model's config (class, sizes, seeds, hyper-parameters)
    model.pt          its state dict (parameters, adaptive buffers, training RNG state)
    cfg.json          the TrainConfig (when saved by the trainer or given)
    train_state.pt    optimizer state, next step, history (when saved by the trainer)
    meta.json         mplib and torch versions
    .done             written last

Everything is written into a temporary sibling folder which is renamed into place only once
complete, so an interrupted save never leaves a folder that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import torch

from mplib.repro import atomic_write, atomic_write_json
from mplib.sae.base import BaseSAE
from mplib.sae.config import TrainConfig

__all__ = ["Checkpoint", "is_checkpoint", "load_checkpoint", "load_model", "save_checkpoint"]

DONE = ".done"


class Checkpoint(NamedTuple):
    """A loaded checkpoint."""

    model: BaseSAE
    """The model, with its weights and adaptive state."""
    cfg: TrainConfig | None
    """The training configuration, if one was saved."""
    train_state: dict[str, Any] | None
    """Optimizer state, next step and history, if saved by the trainer."""


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Tell whether ``path`` is a complete checkpoint folder (its ``.done`` marker exists)."""
    return (Path(path) / DONE).is_file()


def save_checkpoint(
    path: str | os.PathLike,
    model: BaseSAE,
    *,
    cfg: TrainConfig | None = None,
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (and optionally its training config and state) as a checkpoint folder.

    An existing checkpoint at ``path`` is replaced only once the new one is complete.

    Parameters
    ----------
    path : path-like
        The checkpoint folder.
    model : BaseSAE
    cfg : TrainConfig, optional
    train_state : dict, optional
        Anything ``torch.save`` can store (the trainer's optimizer state, step, history).

    Returns
    -------
    Path
    """
    if not isinstance(model, BaseSAE):
        raise TypeError(f"model must be an mplib SAE, got {type(model).__name__}")
    if cfg is not None and not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    from mplib import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        atomic_write_json(tmp / "model.json", model.config())
        state = model.state_dict()
        atomic_write(tmp / "model.pt", lambda f: torch.save(state, f))
        if cfg is not None:
            atomic_write_json(tmp / "cfg.json", cfg.to_dict())
        if train_state is not None:
            atomic_write(tmp / "train_state.pt", lambda f: torch.save(train_state, f))
        atomic_write_json(tmp / "meta.json", {"mplib": __version__, "torch": torch.__version__})
        atomic_write(tmp / DONE, lambda f: f.write(b"ok\n"))
        os.chmod(tmp, 0o755)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / "ckpt")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _require(path: Path) -> None:
    if not path.is_dir():
        raise ValueError(f"path must be a checkpoint folder, got {str(path)!r} (not a folder)")
    if not is_checkpoint(path):
        raise ValueError(f"path {str(path)!r} is not a complete checkpoint (no {DONE} marker)")


def load_model(path: str | os.PathLike, device: Any = "cpu") -> BaseSAE:
    """Load only the model of a checkpoint folder (see :func:`load_checkpoint`)."""
    return load_checkpoint(path, device=device).model


def load_checkpoint(path: str | os.PathLike, device: Any = "cpu") -> Checkpoint:
    """Load a checkpoint folder written by :func:`save_checkpoint` (or the trainer).

    Parameters
    ----------
    path : path-like
    device : str or torch.device, default="cpu"

    Returns
    -------
    Checkpoint
    """
    path = Path(path)
    _require(path)
    config = json.loads((path / "model.json").read_text())
    model = BaseSAE.from_config(config, device=device)
    dev = next(model.parameters()).device
    model.load_state_dict(torch.load(path / "model.pt", map_location=dev, weights_only=False))
    cfg = None
    if (path / "cfg.json").is_file():
        cfg = TrainConfig.from_dict(json.loads((path / "cfg.json").read_text()))
    state = None
    if (path / "train_state.pt").is_file():
        state = torch.load(path / "train_state.pt", map_location=dev, weights_only=False)
    return Checkpoint(model, cfg, state)
