"""Training configuration: one validated dataclass, round-tripping through JSON."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

__all__ = ["TrainConfig"]

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("constant", "wsd", "cosine")
DECODER_NORMS = ("none", "unit", "ball")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How to train a sparse autoencoder; the defaults are the MP-SAE toy recipe.

    Every field is validated in ``__post_init__`` (``ValueError``/``TypeError`` naming it).

    Examples
    --------
    >>> cfg = TrainConfig(n_steps=2000)
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    n_steps: int = 15_000
    """Optimizer steps (toy: 15,000)."""
    lr: float = 3e-2
    """Peak learning rate (toy: 3e-2)."""
    optimizer: str = "adam"
    """``"adam"`` (L2 weight decay added to the gradient) or ``"adamw"`` (decoupled)."""
    betas: tuple[float, float] = (0.5, 0.9375)
    """Adam's moment decays (toy: (0.5, 0.9375))."""
    eps: float = 1e-8
    """Adam's epsilon."""
    weight_decay: float = 0.0
    """Weight decay (vision recipe: 1e-5 with AdamW)."""
    schedule: str = "wsd"
    """``"constant"``, ``"wsd"`` (warmup-stable-decay) or ``"cosine"``; see :mod:`.schedules`."""
    warmup_steps: int = 100
    """Linear warm-up length (toy: 100)."""
    decay_fraction: float = 0.2
    """``"wsd"``: the last fraction of steps decays linearly (toy: 0.2)."""
    final_lr_factor: float = 0.1
    """Learning rate at the end, as a fraction of ``lr`` (toy: 0.1)."""
    initial_lr_factor: float = 0.0
    """Learning rate at step 0, as a fraction of ``lr`` (warm-up start; toy: 0)."""
    grad_clip: float | None = 1.0
    """Clip each run's gradient norm (over all its parameters) to this; None = no clipping."""
    decoder_norm: str = "none"
    """After every step, project atoms to the unit sphere (``"unit"``), into the unit ball
    (``"ball"``), or leave them (``"none"``, the toy)."""
    batch_size: int = 200
    """Samples per step when training from a tensor (streams set their own)."""
    seed: int = 0
    """Seeds the sample order when training from a tensor (models hold their own seeds)."""
    log_every: int = 100
    """Steps between history entries (interval means) and progress-bar updates."""
    progress: bool = True
    """Show a tqdm progress bar."""
    checkpoint_every: int | None = None
    """Steps between checkpoints in ``checkpoint_dir`` (the final step is always saved)."""
    checkpoint_dir: str | None = None
    """Folder of the latest checkpoint; None = no checkpoints."""

    def __post_init__(self) -> None:
        _int(self, "n_steps", 1)
        _float(self, "lr", 0.0, open_low=True)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        betas = self.betas
        if (not isinstance(betas, tuple | list) or len(betas) != 2
                or not all(isinstance(b, int | float) and not isinstance(b, bool)
                           for b in betas)):
            raise ValueError(f"betas must be a pair of floats, got {betas!r}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas!r}")
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))
        _float(self, "eps", 0.0, open_low=True)
        _float(self, "weight_decay", 0.0)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        _int(self, "warmup_steps", 0)
        _float(self, "decay_fraction", 0.0, 1.0)
        _float(self, "final_lr_factor", 0.0)
        _float(self, "initial_lr_factor", 0.0)
        if self.grad_clip is not None:
            _float(self, "grad_clip", 0.0, open_low=True)
        if self.decoder_norm not in DECODER_NORMS:
            raise ValueError(
                f"decoder_norm must be one of {DECODER_NORMS}, got {self.decoder_norm!r}"
            )
        _int(self, "batch_size", 1)
        _int(self, "seed", 0)
        _int(self, "log_every", 1)
        if not isinstance(self.progress, bool):
            raise TypeError(f"progress must be a bool, got {self.progress!r}")
        if self.checkpoint_every is not None:
            _int(self, "checkpoint_every", 1)
            if self.checkpoint_dir is None:
                raise ValueError("checkpoint_every needs checkpoint_dir (got None)")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, str):
            object.__setattr__(self, "checkpoint_dir", str(self.checkpoint_dir))

    @classmethod
    def large_scale(cls, n_steps: int, **overrides: Any) -> TrainConfig:
        """Return the MP-SAE paper's real-data recipe (App. B.2, the Fig. 5 SAEs).

        AdamW, weight decay 1e-5, linear warm-up from 1e-6 to 5e-4 over the first 5 % of the
        steps (warm-up length: our choice, the paper does not state it), then cosine decay to
        1e-6; atoms projected into the unit ball after every step; batch 8,000; no gradient
        clipping (none stated). The paper's revive term (1e-5) belongs to the model, not the
        optimiser: pass ``revive_coef=1e-5`` to the SAE (every SAE but the Matryoshka one takes
        it). ``overrides`` replace any field.

        Examples
        --------
        >>> cfg = TrainConfig.large_scale(1000)
        >>> cfg.optimizer, cfg.schedule, cfg.decoder_norm, cfg.lr
        ('adamw', 'cosine', 'ball', 0.0005)
        """
        base = dict(n_steps=n_steps, lr=5e-4, optimizer="adamw", betas=(0.9, 0.999),
                    weight_decay=1e-5, schedule="cosine", warmup_steps=max(1, n_steps // 20),
                    initial_lr_factor=1e-6 / 5e-4, final_lr_factor=1e-6 / 5e-4,
                    grad_clip=None, decoder_norm="ball", batch_size=8000)
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {unknown}")
        d = dict(d)
        if "betas" in d and isinstance(d["betas"], list):
            d["betas"] = tuple(d["betas"])
        return cls(**d)


def _int(cfg: TrainConfig, name: str, low: int) -> None:
    v = getattr(cfg, name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, got {v!r}")
    if v < low:
        raise ValueError(f"{name} must be >= {low}, got {v}")


def _float(cfg: TrainConfig, name: str, low: float, high: float | None = None,
           open_low: bool = False) -> None:
    v = getattr(cfg, name)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError(f"{name} must be a float, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if v < low or (open_low and v == low):
        raise ValueError(f"{name} must be {'>' if open_low else '>='} {low}, got {v}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}, got {v}")
    object.__setattr__(cfg, name, float(v))
