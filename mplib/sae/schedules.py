"""Learning-rate schedules as factors of the peak rate, indexed by the 0-based optimizer step.

``"wsd"`` (warmup-stable-decay) is the toy's ``get_wsd_scheduler`` (``mpsae/MP-SAE``,
after LightOn's Mamba recipe): with ``n`` steps, ``w`` warm-up steps, decay fraction ``c`` and
end factor ``f``::

    step < w           : i0 + (1 - i0) · step / w      (i0 = initial_lr_factor, toy 0)
    step < (1 - c) · n : 1
    otherwise          : 1 - (1 - f) · min(step - (1 - c)n, (1 - c)n) / (c·n + 0.01)

(the 0.01 is the toy's guard against c = 0). ``"cosine"``: the same warm-up, then
``f + (1 - f) · (1 + cos(π t))/2`` with ``t`` going from 0 to 1 over the remaining steps (the
vision recipe: 1e-6 → 5e-4 → 1e-6 is ``lr=5e-4, initial_lr_factor=final_lr_factor=2e-3``).
"""

from __future__ import annotations

import math

from mplib.sae.config import TrainConfig

__all__ = ["lr_factor", "lr_factors"]


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Learning-rate factor at the 0-based optimizer step ``step`` (multiply ``cfg.lr``).

    Examples
    --------
    >>> cfg = TrainConfig(n_steps=1000, warmup_steps=100)
    >>> [round(lr_factor(cfg, s), 4) for s in (0, 50, 100, 799, 999)]
    [0.0, 0.5, 1.0, 1.0, 0.1045]
    """
    n, w = cfg.n_steps, cfg.warmup_steps
    if step < w:
        return cfg.initial_lr_factor + (1 - cfg.initial_lr_factor) * step / w
    if cfg.schedule == "constant":
        return 1.0
    f = cfg.final_lr_factor
    if cfg.schedule == "wsd":
        c = cfg.decay_fraction
        stable_end = (1 - c) * n
        if step < stable_end:
            return 1.0
        return 1 - (1 - f) * min(step - stable_end, stable_end) / (c * n + 1e-2)
    span = max(1, n - 1 - w)
    t = min(1.0, (step - w) / span)
    return f + (1 - f) * (1 + math.cos(math.pi * t)) / 2


def lr_factors(cfg: TrainConfig) -> list[float]:
    """Factors of every step, ``[lr_factor(cfg, s) for s in range(cfg.n_steps)]``."""
    return [lr_factor(cfg, s) for s in range(cfg.n_steps)]
