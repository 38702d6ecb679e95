"""A synthetic world with a known dictionary and tunable "dark matter".

Activations ``x = sparse + dense_noise + nonlinear + offset`` (tokens as rows), each part
returned:

* ``sparse = Σ_i c_i f_i``: a Poisson(``mean_active``) number of distinct features per token,
  drawn with probabilities ∝ ``(rank + 1)^(−zipf_exponent)`` (successive sampling without
  replacement), sizes ``|N(size_mean, size_std)|``; the ``n_features`` unit rows
  ``f_i = √ρ·u + √(1 − ρ)·g_i`` share a common direction ``u`` (ρ = ``shared_cosine``; ``g_i``
  unit and orthogonal to ``u``), so the mean pairwise cosine is ≈ ρ;
* ``dense_noise``: Gaussian, in a random orthonormal basis, variance ∝ ``(j + 1)^(−decay)``
  along basis vector ``j``, scaled so the mean per-dimension variance is
  ``dense_noise_std²`` (our definition of "power-law spectrum");
* ``nonlinear``: a fixed random MLP of the sparse code, ``tanh(c W₁) W₂``, scaled by
  ``nonlinear_scale / √d`` (a "true nonlinear dark matter" control; 0 by default);
* ``offset``: a constant vector of norm ``offset_norm`` (an intercept-like mean, separate from
  the shared direction).

The world (dictionary, noise basis, MLP, offset) is drawn from ``config.world_seed``; tokens
from the ``seed`` of :func:`make_dark_matter`, so two calls with different seeds sample one world.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse

from mplib.repro import derive_seed, numpy_generator

__all__ = ["DarkMatterConfig", "DarkMatterParts", "DarkMatterSample", "make_dark_matter"]


@dataclasses.dataclass(frozen=True)
class DarkMatterConfig:
    """Settings of the synthetic dark-matter world (defaults: the d = 128 world).

    Examples
    --------
    >>> DarkMatterConfig(d=64, n_features=1024).mean_active
    6.0
    """

    d: int = 128
    """Activation dimension."""
    n_features: int = 8192
    """True dictionary size (n ≫ d); unit-norm rows."""
    mean_active: float = 6.0
    """Poisson mean of active features per token."""
    zipf_exponent: float = 1.0
    """Firing probability ∝ (rank + 1)^(−exponent), normalised."""
    size_mean: float = 1.0
    """Mean of the activation sizes ``|N(size_mean, size_std)|``."""
    size_std: float = 0.15
    """Spread of the sizes ("steady sizes" when small, the mechanism of the paper's Fig. 14)."""
    shared_cosine: float = 0.0
    """ρ: weight of the common direction; mean pairwise feature cosine ≈ ρ."""
    offset_norm: float = 0.0
    """Norm of a constant vector added to every token."""
    dense_noise_std: float = 0.15
    """Root mean per-dimension variance of the dense Gaussian noise."""
    dense_noise_decay: float = 1.0
    """Power-law exponent of the noise spectrum (0 = isotropic)."""
    nonlinear_scale: float = 0.0
    """Size of the nonlinear MLP term (≈ its RMS norm per token)."""
    nonlinear_hidden: int = 32
    """Hidden units of that MLP."""
    world_seed: int = 0
    """Seeds the dictionary, the noise basis, the MLP and the offset."""

    def __post_init__(self) -> None:
        for name, low in (("d", 1), ("n_features", 1), ("nonlinear_hidden", 1),
                          ("world_seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise TypeError(f"{name} must be an int, got {v!r}")
            if v < low:
                raise ValueError(f"{name} must be >= {low}, got {v}")
        for name in ("mean_active", "zipf_exponent", "size_mean", "size_std", "shared_cosine",
                     "offset_norm", "dense_noise_std", "dense_noise_decay", "nonlinear_scale"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float | np.floating | np.integer):
                raise TypeError(f"{name} must be a number, got {v!r}")
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
            object.__setattr__(self, name, float(v))
        if self.mean_active <= 0:
            raise ValueError(f"mean_active must be > 0, got {self.mean_active}")
        if self.shared_cosine >= 1:
            raise ValueError(f"shared_cosine must lie in [0, 1), got {self.shared_cosine}")
        if self.shared_cosine > 0 and self.d < 2:
            raise ValueError(f"shared_cosine > 0 needs d >= 2, got d={self.d}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field."""
        return dataclasses.asdict(self)


class DarkMatterParts(NamedTuple):
    """The additive parts of ``X`` (each (n_tokens, d) except ``offset``)."""

    sparse: np.ndarray
    """``Σ_i c_i f_i``: the perfectly sparse part."""
    dense_noise: np.ndarray
    """Dense anisotropic Gaussian noise."""
    nonlinear: np.ndarray
    """The MLP term (zeros when ``nonlinear_scale`` is 0)."""
    offset: np.ndarray
    """The constant vector, shape (d,)."""


class DarkMatterSample(NamedTuple):
    """Activations with every ground-truth part."""

    X: np.ndarray
    """(n_tokens, d) activations, ``sparse + dense_noise + nonlinear + offset``."""
    code_idx: np.ndarray
    """(n_tokens, max_active) int64 feature ids, ``-1`` pads tokens with fewer features."""
    code_val: np.ndarray
    """(n_tokens, max_active) activation sizes (0 at the padding)."""
    parts: DarkMatterParts
    """The additive parts of ``X``."""
    features: np.ndarray
    """(n_features, d) unit-norm true dictionary, rows in firing-rank order."""
    mean_cosine: float
    """Realised mean pairwise cosine of the features."""

    def codes(self) -> scipy.sparse.csr_matrix:
        """Return the true codes as a sparse (n_tokens, n_features) matrix."""
        n, k = self.code_idx.shape
        keep = self.code_idx >= 0
        rows = np.repeat(np.arange(n), k).reshape(n, k)[keep]
        return scipy.sparse.csr_matrix((self.code_val[keep], (rows, self.code_idx[keep])),
                                       shape=(n, len(self.features)))


class _World(NamedTuple):
    features: np.ndarray
    probs: np.ndarray
    noise_std: np.ndarray  # (d,) along the basis
    noise_basis: np.ndarray  # (d, d) orthonormal rows
    w1: np.ndarray
    w2: np.ndarray
    offset: np.ndarray


def _world(cfg: DarkMatterConfig) -> _World:
    rng = numpy_generator(derive_seed(cfg.world_seed, "dark-matter-world"))
    d, n = cfg.d, cfg.n_features
    g = rng.standard_normal((n, d))
    rho = cfg.shared_cosine
    if rho > 0:
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        g -= np.outer(g @ u, u)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    features = math.sqrt(1 - rho) * g + (math.sqrt(rho) * u if rho > 0 else 0.0)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    probs = (np.arange(n) + 1.0) ** (-cfg.zipf_exponent)
    probs /= probs.sum()
    spectrum = (np.arange(d) + 1.0) ** (-cfg.dense_noise_decay)
    noise_std = cfg.dense_noise_std * np.sqrt(spectrum * d / spectrum.sum())
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0].T
    w1 = rng.standard_normal((n, cfg.nonlinear_hidden))
    w2 = rng.standard_normal((cfg.nonlinear_hidden, d)) / math.sqrt(cfg.nonlinear_hidden)
    v = rng.standard_normal(d)
    offset = cfg.offset_norm * v / np.linalg.norm(v)
    return _World(features, probs, noise_std, basis, w1, w2, offset)


def _distinct_ids(rng: np.random.Generator, counts: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Per token, the first ``counts[t]`` distinct ids of i.i.d. draws from ``cdf``.

    Equal in law to successive sampling without replacement (Gumbel-top-k) but never builds
    a tokens × features matrix. Returns (n_tokens, max(counts)) with -1 padding.
    """
    n, k = len(counts), int(counts.max(initial=0))
    out = np.full((n, max(k, 1)), -1, dtype=np.int64)
    todo = np.flatnonzero(counts > 0)
    width = min(max(int(2 * counts.mean()) + 4, 8), 4 * max(k, 1))
    while len(todo):
        draws = np.searchsorted(cdf, rng.random((len(todo), width)), side="right")
        draws = np.minimum(draws, len(cdf) - 1)
        order = np.argsort(draws, axis=1, kind="stable")
        srt = np.take_along_axis(draws, order, 1)
        dup_sorted = np.zeros_like(srt, dtype=bool)
        dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
        dup = np.empty_like(dup_sorted)
        np.put_along_axis(dup, order, dup_sorted, 1)
        rank = np.cumsum(~dup, axis=1)
        need = counts[todo][:, None]
        enough = rank[:, -1] >= need[:, 0]
        if not enough.any():
            width *= 2
            continue
        keep = (~dup) & (rank <= need)
        keep, draws, need = keep[enough], draws[enough], need[enough]
        kk = min(k, draws.shape[1])
        front = np.take_along_axis(draws, np.argsort(~keep, axis=1, kind="stable")[:, :kk], 1)
        out[todo[enough], :kk] = np.where(np.arange(kk) < need, front, -1)
        todo = todo[~enough]
        width *= 2
    return out[:, :k] if k else out[:, :0]


def make_dark_matter(n_tokens: int, config: DarkMatterConfig | None = None, *,
                     seed: int = 0, dtype: Any = np.float32) -> DarkMatterSample:
    """Sample ``n_tokens`` activations of the dark-matter world.

    Parameters
    ----------
    n_tokens : int
        Tokens to draw.
    config : DarkMatterConfig, optional
        The world; defaults to ``DarkMatterConfig()``.
    seed : int, default=0
        Seeds the tokens (the world comes from ``config.world_seed``).
    dtype : numpy dtype, default=float32
        Of ``X`` and the parts.

    Returns
    -------
    DarkMatterSample

    Examples
    --------
    >>> s = make_dark_matter(1000, DarkMatterConfig(d=16, n_features=256), seed=1)
    >>> s.X.shape, bool(np.allclose(s.X, sum(s.parts[:3]) + s.parts.offset, atol=1e-5))
    ((1000, 16), True)
    """
    cfg = DarkMatterConfig() if config is None else config
    if not isinstance(cfg, DarkMatterConfig):
        raise TypeError(f"config must be a DarkMatterConfig, got {type(cfg).__name__}")
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, int | np.integer) or n_tokens < 1:
        raise ValueError(f"n_tokens must be a positive int, got {n_tokens!r}")
    world = _world(cfg)
    rng = numpy_generator(derive_seed(seed, "dark-matter-tokens"))
    counts = np.minimum(rng.poisson(cfg.mean_active, n_tokens), cfg.n_features)
    idx = _distinct_ids(rng, counts, np.cumsum(world.probs))
    val = np.abs(rng.normal(cfg.size_mean, cfg.size_std, idx.shape))
    val[idx < 0] = 0.0
    sparse = np.zeros((n_tokens, cfg.d))
    hidden = np.zeros((n_tokens, cfg.nonlinear_hidden)) if cfg.nonlinear_scale > 0 else None
    for j in range(idx.shape[1]):  # one gather per code slot: never a tokens x features matrix
        sparse += val[:, j, None] * world.features[idx[:, j]]
        if hidden is not None:
            hidden += val[:, j, None] * world.w1[idx[:, j]]
    noise = (rng.standard_normal((n_tokens, cfg.d)) * world.noise_std) @ world.noise_basis
    if cfg.nonlinear_scale > 0:
        nonlinear = np.tanh(hidden) @ world.w2
        nonlinear *= cfg.nonlinear_scale / math.sqrt(cfg.d)
    else:
        nonlinear = np.zeros_like(sparse)
    X = sparse + noise + nonlinear + world.offset
    total = world.features.sum(0)
    n = cfg.n_features
    mean_cos = float((total @ total - n) / (n * (n - 1))) if n > 1 else 1.0
    parts = DarkMatterParts(sparse.astype(dtype), noise.astype(dtype),
                            nonlinear.astype(dtype), world.offset.astype(dtype))
    return DarkMatterSample(X.astype(dtype), idx, val.astype(dtype), parts, world.features,
                            mean_cos)
