"""Input checks and conversions shared by the metrics (private).

Every metric accepts numpy arrays, torch tensors (any device; gradients are ignored) or nested
lists, computes with torch on the input's device, and returns Python floats or numpy arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

# Rows per chunk are chosen so that one float64 chunk holds about this many entries (64 MiB):
# metrics on a million LM tokens must not materialise a float64 copy of the whole set.
CHUNK_ENTRIES = 1 << 23


def as_tensor(x: Any, name: str, *, min_ndim: int = 1, float64: bool = True) -> torch.Tensor:
    """Return ``x`` as a finite real tensor, raising errors that name the parameter.

    Parameters
    ----------
    x : array_like or Tensor
    name : str
        The parameter name used in error messages.
    min_ndim : int, default=1
        Fewest dimensions accepted.
    float64 : bool, default=True
        Cast to float64. False keeps floating tensors in their dtype (bool and integer inputs
        still become float64), for large inputs processed in float64 chunks.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        if isinstance(x, str | bytes | dict | set) or x is None:
            raise TypeError(f"{name} must be an array or a tensor, got {type(x).__name__}")
        a = np.asarray(x)
        if a.dtype == object or a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
        if not a.flags.writeable:  # torch.from_numpy warns on read-only arrays
            a = a.copy()
        t = torch.from_numpy(a)
    if t.is_complex() or not (t.is_floating_point() or t.dtype == torch.bool or _is_int(t)):
        raise TypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
    if float64 or not t.is_floating_point():
        t = t.to(torch.float64)
    if t.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions, got shape {tuple(t.shape)}"
        )
    if t.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(t.shape)}")
    bad = int((~torch.isfinite(t)).sum())
    if bad:
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite entries")
    return t


def _is_int(t: torch.Tensor) -> bool:
    return not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool


def same_device(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Move ``t`` to the device of ``ref`` (numpy inputs meet torch inputs on the GPU)."""
    return t if t.device == ref.device else t.to(ref.device)


def batch_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> torch.Size:
    """Broadcast the leading ("runs") dimensions of two arrays whose last two must match."""
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same last two dimensions, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    try:
        return torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"the leading dimensions of {name_a} {tuple(a.shape)} and {name_b} "
            f"{tuple(b.shape)} do not broadcast"
        ) from None


def chunk_rows(n_rows: int, row_entries: int) -> int:
    """Rows per chunk such that a chunk holds about :data:`CHUNK_ENTRIES` entries."""
    return max(1, min(n_rows, CHUNK_ENTRIES // max(1, row_entries)))


def to_output(t: torch.Tensor) -> float | np.ndarray:
    """Return a 0-d tensor as a Python number, anything else as a numpy array on the CPU."""
    t = t.detach()
    if t.ndim == 0:
        return t.item()
    # contiguous(): an expanded (broadcast) result must not come back as a zero-stride view
    return t.contiguous().cpu().numpy()


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_nonneg_float(value: Any, name: str) -> float:
    """Return ``value`` as a finite float >= 0, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``, or raise naming ``name``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def unit_rows(D: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit norm; an all-zero row stays zero (never NaN)."""
    norms = D.norm(dim=-1, keepdim=True)
    return D / norms.clamp_min(torch.finfo(D.dtype).tiny)


def hierarchy(
    n_features: int | None, tree: Any = None, levels: Any = None, parents: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Resolve ``tree`` or ``levels``/``parents`` into two checked integer arrays.

    ``tree`` is anything with ``levels`` and ``parents`` attributes (``mplib.datasets.Tree``,
    ``HierarchicalToy``); metrics do not import ``mplib.datasets`` (dependency direction).
    Levels are derived from parents when not given; ``n_features=None`` takes the length of
    ``parents``.
    """
    if tree is not None:
        if levels is not None or parents is not None:
            raise ValueError("give either tree or levels/parents, not both")
        if not hasattr(tree, "parents") or not hasattr(tree, "levels"):
            raise TypeError(
                f"tree must have 'levels' and 'parents' attributes (a mplib.datasets.Tree), "
                f"got {type(tree).__name__}"
            )
        levels, parents = tree.levels, tree.parents
    if parents is None:
        raise ValueError("parents (or tree) is required: the parent feature of each feature")
    if n_features is None:
        n_features = int(np.size(parents.cpu() if isinstance(parents, torch.Tensor) else parents))
    par = _int_vector(parents, "parents", n_features)
    if ((par < -1) | (par >= n_features) | (par == np.arange(n_features))).any():
        raise ValueError(
            f"parents must hold -1 or another feature index in [0, {n_features}), got {par}"
        )
    depth = np.zeros(n_features, dtype=np.int64)
    for i in range(n_features):
        j, steps = par[i], 0
        while j >= 0:
            j, steps = par[j], steps + 1
            if steps > n_features:
                raise ValueError(f"parents must describe a tree (no cycles), got {par}")
        depth[i] = steps
    if levels is None:
        return depth, par
    lev = _int_vector(levels, "levels", n_features)
    if not np.array_equal(lev, depth):
        raise ValueError(f"levels {lev} disagree with the depths implied by parents {depth}")
    return lev, par


def _int_vector(x: Any, name: str, n: int) -> np.ndarray:
    a = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x)
    if a.ndim != 1 or a.shape[0] != n or n == 0:
        raise ValueError(f"{name} must have shape ({n},), got {a.shape}")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64)
