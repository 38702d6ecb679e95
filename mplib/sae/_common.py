"""Helpers shared by the SAE modules: validation, per-run randomness, top-k selection."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mplib.repro import derive_seed, torch_generator

__all__ = ["RunRandom", "check_choice", "check_float", "check_int", "keep_top_k"]


def keep_top_k(codes: torch.Tensor, k: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Keep the ``k`` largest entries of each code row, zero the rest.

    Parameters
    ----------
    codes : Tensor of shape (M, B, N)
        Codes of ``M`` runs.
    k : int, sequence of int or Tensor of shape (M,)
        Entries kept per row (one value per run allowed); clipped to ``[0, N]``. A sequence
        avoids the host synchronisation a tensor's maximum costs on a GPU.

    Returns
    -------
    Tensor of shape (M, B, N)
        Differentiable with respect to the kept entries.
    """
    n = codes.shape[-1]
    if isinstance(k, Sequence) and not isinstance(k, str):
        k_max = min(max(int(v) for v in k), n)
        k = torch.as_tensor(list(k), device=codes.device)
    elif isinstance(k, torch.Tensor) and k.numel() > 1:
        k_max = min(int(k.max()), n)
    else:
        k_max = None
    if k_max is not None:
        if k_max <= 0:
            return torch.zeros_like(codes)
        vals, idx = codes.topk(k_max, dim=-1, sorted=True)
        rank = torch.arange(k_max, device=codes.device)
        vals = torch.where(rank < k.view(-1, 1, 1), vals, torch.zeros_like(vals))
    else:
        kk = min(int(k), n)
        if kk <= 0:
            return torch.zeros_like(codes)
        if kk == n:
            return codes
        vals, idx = codes.topk(kk, dim=-1, sorted=False)
    return torch.zeros_like(codes).scatter(-1, idx, vals)


def check_int(name: str, value: Any, low: int = 1) -> int:
    """Validate one int hyper-parameter (ValueError/TypeError naming it)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def check_float(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """Validate one finite float hyper-parameter (ValueError/TypeError naming it)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {v}")
    if high is not None and (v >= high if high_open else v > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {v}")
    return v


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Validate a string option against its choices."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


class RunRandom:
    """Per-run uniform draws during training, independent of which runs share the batch.

    Run ``m`` draws blocks of ``block`` rows from its own generator; the block size depends on
    the requested shape only, never on the number of runs, so batched and one-at-a-time training
    consume identical numbers. Its state (generators at the block start and the position) is
    part of the model's ``state_dict`` through ``get_extra_state``.
    """

    def __init__(self, seeds: list[int]):
        # derived seeds: training draws never replay the initialisation's stream
        self.gens = [torch_generator(derive_seed(s, "sae-train")) for s in seeds]
        self.block_start = [g.get_state() for g in self.gens]
        self.buffer: torch.Tensor | None = None
        self.shape: tuple[int, ...] | None = None
        self.pos = 0

    def _refill(self, shape: tuple[int, ...]) -> None:
        rows = max(1, min(256, 2**16 // max(1, math.prod(shape))))
        self.block_start = [g.get_state() for g in self.gens]
        self.buffer = torch.stack(
            [torch.rand(rows, *shape, generator=g, dtype=torch.float64) for g in self.gens], 1
        )
        self.shape, self.pos = shape, 0

    def uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Return float64 uniforms of shape ``(M, *shape)`` (CPU)."""
        if self.buffer is None or self.shape != shape or self.pos == self.buffer.shape[0]:
            self._refill(tuple(shape))
        out = self.buffer[self.pos]
        self.pos += 1
        return out

    def state(self) -> dict:
        return {"block_start": self.block_start, "shape": self.shape, "pos": self.pos}

    def load(self, state: dict) -> None:
        for g, s in zip(self.gens, state["block_start"]):
            g.set_state(s)
        self.buffer, self.shape, self.pos = None, None, 0
        if state["shape"] is not None:
            self._refill(tuple(state["shape"]))
            self.pos = state["pos"]

    def select(self, m: int) -> dict:
        """Return the state of run ``m`` alone."""
        return {"block_start": [self.block_start[m]], "shape": self.shape, "pos": self.pos}


def check_positive(name: str, v: Any) -> float:
    """Validate a float > 0 (``ValueError`` naming ``name`` otherwise)."""
    return check_float(name, v, low=0.0, low_open=True)


def check_nonneg(name: str, v: Any) -> float:
    """Validate a float >= 0 (``ValueError`` naming ``name`` otherwise)."""
    return check_float(name, v, low=0.0)
