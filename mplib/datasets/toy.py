"""The synthetic hierarchy of the MP-SAE paper (Costa et al., 2025) and its variants.

Three variants share one code path:

``"mpsae"``
    The paper's construction (``mpsae/MP-SAE``, ``tree.json``): 11 mutually exclusive
    top-level nodes (three internal parents, p = 0.2 each; eight leaf parents, p = 0.05 each);
    each internal parent has three exclusive read-out children (0.2 each) and a 0.4 "no child"
    slot; every active magnitude ~ N(1.5, 0.25²); directions mixed inside each sibling group so
    that every within-group pair has cosine ``within_level_cosine``, groups exactly orthogonal.
``"table1"``
    The MP-SAE tree with parent magnitudes N(1, 0.25²) and child magnitudes
    N(child_mean, child_std²) (Table 1; negative draws are kept, as the paper's "-" cells warn).
``"matryoshka"``
    The original Matryoshka toy (``noanabeshima/matryoshka-saes``): top-level nodes independent
    (internal parents 0.15, leaves 0.05), binary magnitudes, orthonormal directions whose norms
    are jittered by 1 + 0.05·N(0, 1). We return unit directions and put the norm into the codes
    (``X == codes @ features`` still holds), as the alignment metric of the paper does.

Mixing (the authors' notebook): with ``Q0`` the rows of an orthonormal basis, each member
``i`` of a group ``G`` of size ``n`` becomes ``(1 - eps) Q0[i] + eps/(n-1) Σ_{j≠i} Q0[j]``, then
unit-normalised. The within-group cosine is
``c(eps, n) = [2(1-eps)eps/(n-1) + (n-2)eps²/(n-1)²] / [(1-eps)² + eps²/(n-1)]``; we invert it
in closed form (:func:`mixing_epsilon`), so any cosine in [0, 1) is exact, not only the
notebook's rounded table.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mplib.datasets.tree import Node, Tree
from mplib.repro import derive_seed, torch_generator

__all__ = [
    "VARIANTS",
    "HierarchicalToy",
    "ToySpec",
    "ToyStream",
    "data_generator",
    "group_cosine",
    "hierarchical_toy",
    "mixing_epsilon",
    "mpsae_tree",
    "matryoshka_tree",
]

VARIANTS = ("mpsae", "matryoshka", "table1")


def _leaf(p: float) -> Node:
    return Node(p)


def _internal(p: float) -> Node:
    kids = (_leaf(0.2), _leaf(0.2), _leaf(0.2), Node(0.4, read_out=False))
    return Node(p, exclusive_children=True, children=kids)


def mpsae_tree() -> Tree:
    """Return the 20-feature tree of the MP-SAE paper (``mpsae/MP-SAE`` ``tree.json``).

    0-based feature indices: parents 0, 4, 8; their children 1–3, 5–7, 9–11; leaf parents
    12–19 (the paper's figures label them 1-based).
    """
    top = [_internal(0.2) for _ in range(3)] + [_leaf(0.05) for _ in range(8)]
    return Tree(Node(1.0, read_out=False, exclusive_children=True, children=tuple(top)))


def matryoshka_tree() -> Tree:
    """Return the tree of the original Matryoshka toy (independent top-level nodes)."""
    top = [_internal(0.15) for _ in range(3)] + [_leaf(0.05) for _ in range(8)]
    return Tree(Node(1.0, read_out=False, exclusive_children=False, children=tuple(top)))


# ---------------------------------------------------------------------------------------------
# within-group mixing


def group_cosine(eps: float, n: int) -> float:
    """Cosine between two members of a mixed group of size ``n`` (closed form)."""
    if n < 2:
        return 0.0
    m = n - 1
    num = 2 * (1 - eps) * eps / m + (n - 2) * eps**2 / m**2
    return num / ((1 - eps) ** 2 + eps**2 / m)


def mixing_epsilon(cosine: float, n: int) -> float:
    """Mixing coefficient giving every pair of a size-``n`` group the cosine ``cosine``.

    Inverts :func:`group_cosine` on ``[0, (n-1)/n)``, where it rises from 0 to 1: with
    ``m = n - 1``, ``eps = m/(m+1) · (1 - sqrt((1 - c)/(c·m + 1)))``.

    Examples
    --------
    >>> round(mixing_epsilon(0.9, 11), 6), round(9 / 11, 6)
    (0.818182, 0.818182)
    """
    _check_cosine(cosine)
    if n < 2:
        return 0.0
    m = n - 1
    return m / (m + 1) * (1.0 - math.sqrt((1.0 - cosine) / (cosine * m + 1.0)))


def _check_cosine(cosine: Any) -> None:
    if isinstance(cosine, bool) or not isinstance(cosine, int | float | np.floating):
        raise TypeError(f"within_level_cosine must be a float in [0, 1), got {cosine!r}")
    if not 0.0 <= float(cosine) < 1.0:
        raise ValueError(f"within_level_cosine must be in [0, 1), got {cosine}")


# ---------------------------------------------------------------------------------------------
# the specification of one toy


@dataclasses.dataclass(frozen=True)
class ToySpec:
    """Everything that defines a synthetic-hierarchy distribution (validated).

    Use :meth:`features` and :meth:`codes` to draw from it; :func:`hierarchical_toy` and
    :class:`ToyStream` are built on them.
    """

    variant: str = "mpsae"
    """One of ``"mpsae"``, ``"matryoshka"``, ``"table1"``."""
    within_level_cosine: float | None = None
    """Cosine inside each sibling group; None = the variant's default (0.1, 0, 0)."""
    child_mean: float | None = None
    """Mean child magnitude (``"table1"`` only; required there)."""
    child_std: float | None = None
    """Standard deviation of child magnitudes (``"table1"`` only; required there)."""

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.within_level_cosine is None:
            default = 0.1 if self.variant == "mpsae" else 0.0
            object.__setattr__(self, "within_level_cosine", default)
        _check_cosine(self.within_level_cosine)
        if self.variant == "matryoshka" and self.within_level_cosine != 0:
            raise ValueError(
                "within_level_cosine must be 0 (or None) for variant='matryoshka': the original "
                f"toy has orthonormal directions, got {self.within_level_cosine}"
            )
        if self.variant == "table1":
            for name in ("child_mean", "child_std"):
                v = getattr(self, name)
                if v is None or isinstance(v, bool) or not isinstance(v, int | float):
                    raise ValueError(f"{name} must be a number for variant='table1', got {v!r}")
                if not math.isfinite(v):
                    raise ValueError(f"{name} must be finite, got {v}")
            if self.child_std < 0:
                raise ValueError(f"child_std must be >= 0, got {self.child_std}")
        elif self.child_mean is not None or self.child_std is not None:
            raise ValueError(
                f"child_mean and child_std apply only to variant='table1', not {self.variant!r}"
            )

    @functools.cached_property
    def tree(self) -> Tree:
        """The concept tree of this variant."""
        return matryoshka_tree() if self.variant == "matryoshka" else mpsae_tree()

    def epsilons(self) -> dict[int, float]:
        """Mixing coefficient per group size (11 for the top level, 3 for sibling triples)."""
        return {len(g): mixing_epsilon(self.within_level_cosine, len(g)) for g in self.tree.groups}

    def features(self, generator: torch.Generator, dtype: torch.dtype = torch.float64):
        """Draw the ground-truth directions.

        Returns
        -------
        features : Tensor of shape (n_features, n_features)
            Unit-norm rows.
        norms : Tensor of shape (n_features,)
            The original toy's row norms (ones except for ``"matryoshka"``).
        """
        tree = self.tree
        n = tree.n_features
        gauss = torch.randn(n, n, generator=generator, dtype=torch.float64)
        q0 = torch.linalg.qr(gauss).Q.T.contiguous()  # rows orthonormal
        feats = q0.clone()
        for g in tree.groups:
            if len(g) < 2:
                continue
            eps = mixing_epsilon(self.within_level_cosine, len(g))
            idx = torch.as_tensor(g)
            block = q0[idx]
            total = block.sum(0, keepdim=True)
            feats[idx] = (1 - eps) * block + eps / (len(g) - 1) * (total - block)
        feats = feats / feats.norm(dim=1, keepdim=True)
        if self.variant == "matryoshka":
            norms = 1 + 0.05 * torch.randn(n, generator=generator, dtype=torch.float64)
        else:
            norms = torch.ones(n, dtype=torch.float64)
        return feats.to(dtype), norms.to(dtype)

    def draw(
        self,
        n: int,
        generator: torch.Generator,
        *,
        binary: bool = False,
        dtype: torch.dtype = torch.float64,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Draw the randomness of ``n`` samples: the only place samples consume the generator.

        Parameters
        ----------
        n : int
        generator : torch.Generator
        binary : bool, default=False
            Skip the magnitudes.
        dtype : torch.dtype, default=torch.float64
            Dtype of the draws (:class:`ToyStream` draws float32: half the random bits, and
            the law is unchanged at float32 resolution).

        Returns
        -------
        uniforms : Tensor of shape (n, tree.n_draws)
            For the tree's independent nodes and exclusive choices.
        normals : Tensor of shape (n, tree.max_active), or None
            Standard normals for the magnitudes of the active features, in feature order
            (None when the magnitudes are binary).
        """
        tree = self.tree
        u = torch.rand(n, tree.n_draws, generator=generator, dtype=dtype)
        if binary or self.variant == "matryoshka":
            return u, None
        return u, torch.randn(n, tree.max_active, generator=generator, dtype=dtype)

    def codes_from(
        self,
        uniforms: torch.Tensor,
        normals: torch.Tensor | None,
        *,
        norms: torch.Tensor | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn draws from :meth:`draw` into activity and codes (vectorised over leading dims).

        The j-th active feature of a sample (in feature order) takes the j-th normal of that
        sample: the same law as the authors' dense draw of one normal per entry.

        Parameters
        ----------
        uniforms : Tensor of shape (..., n, n_draws)
        normals : Tensor of shape (..., n, max_active) or None
            None gives binary magnitudes.
        norms : Tensor of shape (..., n_features), optional
            Feature norms multiplied into the codes (the ``"matryoshka"`` jitter).
        dtype : torch.dtype, default=torch.float64
            Dtype of the codes.

        Returns
        -------
        active : Tensor of shape (..., n, n_features), bool
        codes : Tensor of shape (..., n, n_features)
        """
        active = self.tree.sample_active_from(uniforms)
        z = active.to(dtype)
        if normals is not None:
            z = z * self._magnitudes(z, normals.to(dtype))
        if norms is not None:
            z = z * norms.to(dtype).unsqueeze(-2)
        return active, z

    def _magnitudes(self, z: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
        """Magnitude each feature takes if active, (..., n, n_features), from its rank."""
        k = normals.shape[-1]
        if k == 1:
            noise = normals
        else:
            # active features before each one: a matmul with strictly upper-triangular ones
            # (a cumsum along a 20-wide last dim is ~10x slower on CPU)
            f = z.shape[-1]
            upper = torch.ones(f, f, dtype=z.dtype, device=z.device).triu_(1)
            before = torch.matmul(z, upper)
            if k == 2:  # rank 0 or 1 when active: one lerp instead of a gather
                noise = torch.lerp(normals[..., :1], normals[..., 1:], before)
            else:
                noise = normals.gather(-1, before.long().clamp_(max=k - 1))
        if self.variant == "mpsae":
            return noise.mul_(0.25).add_(1.5) if noise is not normals else 1.5 + 0.25 * noise
        # table1: parents N(1, 0.25²), children N(child_mean, child_std²)
        child = torch.as_tensor(self.tree.levels >= 1, device=z.device)
        mean = torch.where(child, self.child_mean, 1.0).to(z.dtype)
        std = torch.where(child, self.child_std, 0.25).to(z.dtype)
        return torch.addcmul(mean, std, noise)

    def codes(
        self,
        n: int,
        generator: torch.Generator,
        *,
        norms: torch.Tensor | None = None,
        binary: bool = False,
    ) -> torch.Tensor:
        """Draw codes (n, n_features), float64: which features fire times their magnitudes.

        Parameters
        ----------
        n : int
            Number of samples.
        generator : torch.Generator
        norms : Tensor of shape (n_features,), optional
            Feature norms multiplied into the codes (the ``"matryoshka"`` jitter).
        binary : bool, default=False
            Skip the magnitudes (the matching batch of the alignment metric).
        """
        u, g = self.draw(n, generator, binary=binary)
        return self.codes_from(u, g, norms=norms)[1]


def data_generator(seed: int) -> torch.Generator:
    """Return the generator behind ``hierarchical_toy(seed=seed)`` and ToyStream run ``seed``.

    Seeded with ``derive_seed(seed, "hierarchical_toy")``, not ``seed`` itself: a model
    initialised from ``torch_generator(seed)`` would otherwise draw the very Gaussian matrix
    whose QR gives the ground-truth directions, and start next to the answer.
    """
    return torch_generator(derive_seed(seed, "hierarchical_toy"))


# ---------------------------------------------------------------------------------------------
# one data set, and a training stream


@dataclasses.dataclass(frozen=True)
class HierarchicalToy:
    """A sample of the synthetic hierarchy with its ground truth (``X == codes @ features``)."""

    X: np.ndarray
    """Signals, shape (n_samples, 20)."""
    codes: np.ndarray
    """Ground-truth codes (magnitudes, and norms for ``"matryoshka"``), (n_samples, 20)."""
    features: np.ndarray
    """Unit-norm ground-truth directions as rows, (20, 20)."""
    active: np.ndarray
    """Which features fire, bool (n_samples, 20)."""
    levels: np.ndarray
    """Level of each feature (0 top-level, 1 child), (20,)."""
    parents: np.ndarray
    """Parent feature of each feature (-1 for top-level), (20,)."""
    feature_norms: np.ndarray
    """Original row norms of the directions (ones except for ``"matryoshka"``), (20,)."""
    epsilon: dict
    """Mixing coefficient used per group size."""
    spec: ToySpec
    """The distribution sampled."""
    tree: Tree
    """The concept tree."""


def hierarchical_toy(
    n_samples: int,
    within_level_cosine: float | None = None,
    seed: int = 0,
    variant: str = "mpsae",
    child_mean: float | None = None,
    child_std: float | None = None,
) -> HierarchicalToy:
    """Sample the synthetic hierarchy of the MP-SAE paper (vectorised, float64).

    Parameters
    ----------
    n_samples : int
        Number of signals (> 0).
    within_level_cosine : float in [0, 1), default=None
        Cosine between any two features of one sibling group. None means the variant's
        default: 0.1 for ``"mpsae"`` (the paper's Fig. 4A setting), 0 for ``"table1"`` (our
        choice; the paper does not state it) and ``"matryoshka"`` (orthonormal).
    seed : int, default=0
        Seeds the directions (drawn first) and then the samples, through
        :func:`data_generator` (independent of ``torch_generator(seed)``).
    variant : {"mpsae", "matryoshka", "table1"}, default="mpsae"
        See the module docstring.
    child_mean, child_std : float, optional
        Child magnitude law N(child_mean, child_std²) (``"table1"`` only, required there).

    Returns
    -------
    HierarchicalToy

    Examples
    --------
    >>> toy = hierarchical_toy(1000, within_level_cosine=0.3, seed=0)
    >>> toy.X.shape, bool(np.allclose(toy.X, toy.codes @ toy.features))
    ((1000, 20), True)
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer):
        raise TypeError(f"n_samples must be an int, got {type(n_samples).__name__}")
    if n_samples <= 0:
        raise ValueError(f"n_samples must be > 0, got {n_samples}")
    spec = ToySpec(variant, within_level_cosine, child_mean, child_std)
    gen = data_generator(seed)
    feats, norms = spec.features(gen)
    tree = spec.tree
    active, codes = spec.codes_from(*spec.draw(int(n_samples), gen), norms=norms)
    X = codes @ feats
    return HierarchicalToy(
        X=X.numpy(),
        codes=codes.numpy(),
        features=feats.numpy(),
        active=active.numpy(),
        levels=tree.levels.copy(),
        parents=tree.parents.copy(),
        feature_norms=norms.numpy(),
        epsilon=spec.epsilons(),
        spec=spec,
        tree=tree,
    )


_BLOCK = 4
"""Runs whose batches :class:`ToyStream` builds together (bounded temporaries)."""


def _outcome_sampler(spec: ToySpec, dtype: torch.dtype):
    """``(cum, slots, mean, std)`` tables of :meth:`Tree.outcomes`, or None (dense sampling).

    ``cum`` (n_outcomes - 1,) inner boundaries of the cumulative probabilities; ``slots``
    (max_active, n_outcomes) the k-th active feature of each outcome (``n_features`` = none);
    ``mean``, ``std`` (max_active, n_outcomes) its magnitude law (None: binary). Not for
    jittered feature norms (``"matryoshka"``): that toy has too many outcomes anyway.
    """
    found = spec.tree.outcomes()
    if found is None or spec.variant == "matryoshka":
        return None
    probs, table = found
    cum = torch.as_tensor(np.cumsum(probs)[:-1], dtype=dtype)
    slots = torch.as_tensor(table.T.copy())
    if spec.variant == "mpsae":
        mean, std = torch.full(slots.shape, 1.5), torch.full(slots.shape, 0.25)
    else:  # table1: parents N(1, 0.25²), children N(child_mean, child_std²)
        child = torch.as_tensor(np.append(spec.tree.levels >= 1, False))[slots]
        mean = torch.where(child, spec.child_mean, 1.0)
        std = torch.where(child, spec.child_std, 0.25)
    return cum, slots, mean.to(dtype), std.to(dtype)


def _is_range(ms: list[int]) -> bool:
    return ms == list(range(ms[0], ms[0] + len(ms)))


class ToyStream:
    """Fresh training batches for several runs at once, each with its own seed and basis.

    Run ``m`` draws its directions and then all its batches from ``data_generator(seeds[m])``
    in blocks of ``chunk`` batches, so its data do not depend on which other runs share the
    stream: a batched sweep and one-at-a-time training see identical data. Runs may follow
    different distributions (one :class:`ToySpec` per run, e.g. a sweep over cosines).

    Sampling is in the stream's dtype. A tree with few possible active sets (the MP-SAE tree:
    20, :meth:`Tree.outcomes`) is sampled by one categorical draw a sample, and ``X`` built
    from the ≤ ``max_active`` active directions; other trees (``"matryoshka"``) through dense
    codes (:meth:`ToySpec.codes_from`). Both follow the law of :func:`hierarchical_toy`
    (exact values differ). Batches are fresh tensors: keeping one is safe.

    Parameters
    ----------
    spec : ToySpec or sequence of ToySpec
        One distribution for every run, or one per run.
    seeds : sequence of int
        One seed per run.
    batch_size : int, default=200
    chunk : int, default=64
        Batches drawn per refill (part of the stream's identity: keep it fixed).
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, default="cpu"

    Attributes
    ----------
    specs : list of ToySpec
        The distribution of each run.
    features : Tensor of shape (n_runs, 20, 20)
        Unit-norm ground-truth directions per run.
    feature_norms : Tensor of shape (n_runs, 20)

    Examples
    --------
    >>> stream = ToyStream(ToySpec("mpsae", 0.3), seeds=[0, 1], batch_size=8)
    >>> next(stream).shape
    torch.Size([2, 8, 20])
    """

    def __init__(
        self,
        spec: ToySpec | Sequence[ToySpec],
        seeds: Sequence[int],
        *,
        batch_size: int = 200,
        chunk: int = 64,
        dtype: torch.dtype = torch.float32,
        device: Any = "cpu",
    ):
        seeds = list(seeds)
        if not seeds:
            raise ValueError("seeds must hold at least one seed")
        specs = [spec] * len(seeds) if isinstance(spec, ToySpec) else list(spec)
        if not all(isinstance(s, ToySpec) for s in specs):
            raise TypeError("spec must be a ToySpec or a sequence of ToySpec")
        if len(specs) != len(seeds):
            raise ValueError(f"spec needs one ToySpec per seed ({len(seeds)}), got {len(specs)}")
        if len({s.tree.n_features for s in specs}) != 1:
            raise ValueError("spec: every run must have the same number of features")
        for name, v in (("batch_size", batch_size), ("chunk", chunk)):
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.specs, self.seeds = specs, seeds
        self.batch_size, self.chunk, self.dtype, self.device = batch_size, chunk, dtype, device
        self._gens = [data_generator(s) for s in seeds]
        pairs = [sp.features(g) for sp, g in zip(specs, self._gens)]
        self._feats64 = torch.stack([f for f, _ in pairs])
        self._norms64 = torch.stack([n for _, n in pairs])
        self.features = self._feats64.to(device=device, dtype=dtype)
        self.feature_norms = self._norms64.to(device=device, dtype=dtype)
        groups: dict[ToySpec, list[int]] = {}
        for m, sp in enumerate(specs):
            groups.setdefault(sp, []).append(m)
        self._blocks = [(sp, ms[lo:lo + _BLOCK]) for sp, ms in groups.items()
                        for lo in range(0, len(ms), _BLOCK)]
        self._feats = self._feats64.to(dtype)
        self._norms = self._norms64.to(dtype)
        self._samplers = {sp: _outcome_sampler(sp, dtype) for sp in groups}
        self._buffer: torch.Tensor | None = None
        self._pos = 0
        self._on_cpu = torch.device(device).type == "cpu"

    def __iter__(self) -> ToyStream:
        return self

    def _refill(self) -> None:
        n = self.batch_size * self.chunk
        n_runs = len(self.seeds)
        if self._buffer is None:  # kept: a fresh 100 MB block a refill costs its page faults
            self._buffer = torch.empty(n_runs, n, self._feats64.shape[2], dtype=self.dtype)
        x = self._buffer
        # runs of one distribution are drawn together, a few at a time so that temporaries
        # stay cache-sized; each run draws from its own generator
        for sp, ms in self._blocks:
            out = x[ms[0]:ms[-1] + 1] if _is_range(ms) else torch.empty(len(ms), *x.shape[1:],
                                                                        dtype=x.dtype)
            sampler = self._samplers[sp]
            if sampler is None:
                self._dense_block(sp, ms, n, out)
            else:
                self._outcome_block(sp, ms, n, sampler, out)
            if not _is_range(ms):
                x.index_copy_(0, torch.tensor(ms), out)
        self._pos = 0

    def _dense_block(self, sp: ToySpec, ms: list[int], n: int, out: torch.Tensor) -> None:
        """Any tree: dense activity and codes (:meth:`ToySpec.codes_from`), then ``Z F``."""
        draws = [sp.draw(n, self._gens[m], dtype=self.dtype) for m in ms]
        u = torch.stack([u for u, _ in draws])
        g = None if draws[0][1] is None else torch.stack([g for _, g in draws])
        codes = sp.codes_from(u, g, norms=self._norms[ms], dtype=self.dtype)[1]
        torch.bmm(codes, self._feats[ms], out=out)

    def _outcome_block(self, sp: ToySpec, ms: list[int], n: int, sampler, out) -> None:
        """Few possible active sets (:meth:`Tree.outcomes`): one categorical draw a sample.

        ``X = Σ_k mag_k · F[slot_k]``, gathering the ≤ ``max_active`` active directions (a
        zero row stands for an empty slot) instead of a dense 20-wide codes matrix: the same
        law, drawn with 1 + max_active numbers a sample.
        """
        cum, slots, mean, std = sampler
        n_feat, d = self._feats.shape[1], self._feats.shape[2]
        k_max = slots.shape[0]
        u, g = [], []
        for m in ms:  # per run: the outcome uniforms, then the magnitude normals
            u.append(torch.rand(n, generator=self._gens[m], dtype=self.dtype))
            if mean is not None:
                g.append(torch.randn(k_max, n, generator=self._gens[m], dtype=self.dtype))
        outcome = torch.searchsorted(cum, torch.stack(u).view(-1), right=True)
        base = torch.arange(len(ms)).mul_(n_feat + 1)[:, None]
        table = torch.cat([self._feats[ms], self._feats.new_zeros(len(ms), 1, d)], 1).view(-1, d)
        flat = out.view(-1, d)
        for k in range(k_max):
            rows = table.index_select(0, (slots[k].index_select(0, outcome).view(len(ms), n)
                                          + base).view(-1))
            if mean is None:  # binary magnitudes
                flat.copy_(rows) if k == 0 else flat.add_(rows)
                continue
            mag = torch.stack([z[k] for z in g]).view(-1)
            mag = torch.addcmul(mean[k].index_select(0, outcome),
                                std[k].index_select(0, outcome), mag)[:, None]
            if k == 0:
                flat.zero_()
            flat.addcmul_(rows, mag)  # (mul with out= and a broadcast row factor is ~5x slower)

    def __next__(self) -> torch.Tensor:
        """Return the next batch, shape (n_runs, batch_size, 20)."""
        if self._pos == self.chunk or self._buffer is None:
            self._refill()
        x = self._buffer.view(len(self.seeds), self.chunk, self.batch_size, -1)[:, self._pos]
        self._pos += 1
        # a copy: the buffer is refilled in place, and callers may keep batches
        if self._on_cpu:
            return x.clone(memory_format=torch.contiguous_format)
        return x.to(self.device)
