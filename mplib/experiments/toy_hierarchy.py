"""The synthetic-hierarchy experiments of the MP-SAE paper: sweeps of toy SAEs, scored.

Fig. 4, Figs. 12–16 and Table 1 of Costa et al. (2025) train four 20-latent SAEs (Vanilla,
BatchTopK, Matryoshka, MP-SAE) with the toy recipe (``TrainConfig()`` defaults: Adam 3e-2,
β = (0.5, 0.9375), 15,000 steps, batch 200, clip 1, warmup-stable-decay) on fresh batches of
:mod:`mplib.datasets` toys, then compare each learned dictionary with the ground truth.

* :func:`train_toy_runs` trains any list of :class:`ToyRun` (SAE × distribution × seed), all
  runs of one SAE as one batched model, and keeps every trained run as a checkpoint folder
  ``data/runs/toy/<sae>-<key>/`` keyed by everything it depends on, so notebooks share runs
  (Figs. 12–15 reuse the Fig. 4 sweep) and a second build trains nothing.
* :func:`evaluate_toy_run` aligns a model to the truth (the authors' activation-based
  Hungarian matching on 1,000 binary samples) and returns every number the figures show.

Seeds: run ``seed`` draws its data from ``data_generator(seed)`` and its model derives its own
initialisation stream from the same ``seed`` (independent numbers). A run trained inside a
batch follows the trajectory it would follow alone up to float rounding, so its cached result
may differ in the last bits from a run trained in another batch.
"""

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import torch

from mplib.datasets import ToySpec, ToyStream, data_generator
from mplib.metrics import absorption_score, flat_hierarchical_mse, hungarian_alignment
from mplib.pursuit._common import torch_threads
from mplib.repro import cache_key, code_fingerprint, derive_seed, runs_dir, torch_generator
from mplib.sae import (
    MPSAE,
    BaseSAE,
    BatchTopKSAE,
    MatryoshkaSAE,
    TrainConfig,
    is_checkpoint,
    load_model,
    save_checkpoint,
    train,
)

__all__ = [
    "SAE_LABELS",
    "TOY_SAES",
    "ToyRun",
    "ToyScores",
    "evaluate_toy_run",
    "grid",
    "make_toy_sae",
    "pooled_absorption",
    "reference_codes",
    "run_folder",
    "train_toy_runs",
]

TOY_SAES = ("vanilla", "batchtopk", "matryoshka", "mp")
SAE_LABELS = {"vanilla": "Vanilla", "batchtopk": "BatchTopK", "matryoshka": "Matryoshka",
              "mp": "MP-SAE"}


@dataclasses.dataclass(frozen=True)
class ToyRun:
    """One training run: which SAE, on which distribution, with which seed."""

    sae: str
    """One of :data:`TOY_SAES`."""
    spec: ToySpec
    """The data distribution."""
    seed: int
    """Seeds the data (directions and batches) and, derived, the model's initialisation."""
    mp_threshold: float = 0.05
    """MP-SAE residual-norm stop (0.05 in the paper; 0.6 for Fig. 16); ignored by the others."""

    def __post_init__(self) -> None:
        if self.sae not in TOY_SAES:
            raise ValueError(f"sae must be one of {TOY_SAES}, got {self.sae!r}")
        if not isinstance(self.spec, ToySpec):
            raise TypeError(f"spec must be a ToySpec, got {type(self.spec).__name__}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if not (isinstance(self.mp_threshold, int | float) and self.mp_threshold > 0):
            raise ValueError(f"mp_threshold must be a positive float, got {self.mp_threshold!r}")

    def describe(self) -> dict[str, Any]:
        """JSON-able description (part of the cache key)."""
        d = {"sae": self.sae, "seed": self.seed, **dataclasses.asdict(self.spec)}
        if self.sae == "mp":
            d["mp_threshold"] = float(self.mp_threshold)
        return d


def make_toy_sae(sae: str, seeds: Sequence[int], *, mp_threshold: float = 0.05) -> BaseSAE:
    """Build a batched toy SAE (20 latents, the paper's toy recipe) with one run per seed.

    The models derive their own initialisation seeds from ``seeds`` (never the data's
    numbers). Vanilla is the Matryoshka class with one prefix and no latent re-sorting, as in
    the authors' notebook.
    """
    common = dict(seed=list(seeds), n_models=len(seeds))
    if sae == "vanilla":
        return MatryoshkaSAE(20, 20, n_prefixes=1, permute_latents=False, **common)
    if sae == "matryoshka":
        return MatryoshkaSAE(20, 20, **common)
    if sae == "batchtopk":
        return BatchTopKSAE(20, 20, **common)
    if sae == "mp":
        return MPSAE(20, 20, threshold=float(mp_threshold), **common)
    raise ValueError(f"sae must be one of {TOY_SAES}, got {sae!r}")


def run_folder(run: ToyRun, cfg: TrainConfig) -> Any:
    """Checkpoint folder of a trained run: ``data/runs/toy/<sae>-<key>``.

    The key hashes the run, the training config and the source of the code that produces
    the model (:mod:`mplib.sae`, :mod:`mplib.datasets`, the MP kernel), so a code change
    retrains instead of serving a stale model.
    """
    train_part = {k: v for k, v in cfg.to_dict().items()
                  if k not in ("progress", "log_every", "checkpoint_every", "checkpoint_dir")}
    code = code_fingerprint("sae", "datasets", "pursuit/_mp.py", "pursuit/_mp_jit.py")
    return runs_dir() / "toy" / f"{run.sae}-{cache_key(run.describe(), train_part, code)}"


def train_toy_runs(
    runs: Sequence[ToyRun],
    cfg: TrainConfig | None = None,
    *,
    max_models: int = 64,
    n_workers: int | None = None,
    progress: bool = False,
) -> list[BaseSAE]:
    """Train (or load from the run cache) every run; return one standalone model per run.

    Runs not yet cached are grouped by SAE (and MP threshold), each group split into batched
    models of at most ``max_models`` runs (as equal in size as possible), each run with its
    own :class:`~mplib.datasets.ToyStream` (``cfg.batch_size`` samples a step). The batched
    models train in ``n_workers`` processes of one torch thread each, largest first; each
    run is then saved as its own checkpoint.

    The split depends on ``runs`` and ``max_models`` only, and every batched model trains
    alone on one thread, so the results do not depend on ``n_workers``. They can depend, at
    the level of float32 rounding, on which runs share a batched model (batched products
    round differently), and 15,000 steps can grow such differences where training is
    chaotic (the MP-SAE at cosine 0.3 lands exact in ~40 % of runs, near-exact otherwise).
    The cache keys a run by itself, so the first call that trains a run fixes its result;
    ``make figures`` from an empty cache always trains the same groups.

    Parameters
    ----------
    runs : sequence of ToyRun
    cfg : TrainConfig, optional
        Defaults to the toy recipe, ``TrainConfig()`` (15,000 steps).
    max_models : int, default=64
        Largest batched model. Per run, a step costs about the same from ~50 runs up
        (per-operation overheads are shared, 20-wide tensors stay cache-sized), and
        groups of 100 or 135 runs (Fig. 4, Table 1) split into pieces that balance workers.
    n_workers : int, optional
        Worker processes (spawned; one torch thread each). None (default): one per
        available core. 1 trains in this process (with one torch thread).
    progress : bool, default=False
        Show a progress bar per batched model.

    Returns
    -------
    list of BaseSAE
        In the order of ``runs`` (unbatched models in eval mode).
    """
    cfg = TrainConfig() if cfg is None else cfg
    cfg = dataclasses.replace(cfg, progress=progress, checkpoint_dir=None, checkpoint_every=None)
    if isinstance(max_models, bool) or not isinstance(max_models, int) or max_models < 1:
        raise ValueError(f"max_models must be a positive int, got {max_models!r}")
    if n_workers is None:
        n_workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ValueError(f"n_workers must be a positive int or None, got {n_workers!r}")
    folders = [run_folder(r, cfg) for r in runs]
    todo: dict[tuple[str, float], list[int]] = {}
    for i, (run, folder) in enumerate(zip(runs, folders)):
        if not is_checkpoint(folder) and i == folders.index(folder):
            todo.setdefault((run.sae, float(run.mp_threshold)), []).append(i)
    units = []
    for (sae, threshold), idx in todo.items():
        for part in _split(idx, max_models):
            units.append(_Unit(sae, threshold, [runs[i].spec for i in part],
                               [runs[i].seed for i in part], [folders[i] for i in part]))
    units.sort(key=_Unit.cost, reverse=True)  # longest first: a greedy balance of the workers
    if n_workers == 1 or len(units) <= 1:
        with torch_threads(1):
            for unit in units:
                _train_unit(unit, cfg)
    elif units:
        # forkserver: one clean process imports mplib once (~3 s), workers fork from it
        # (and later pools of this process reuse it); fork itself is unsafe in a threaded
        # kernel, spawn would import mplib in every worker
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        with ProcessPoolExecutor(min(n_workers, len(units)), mp_context=ctx,
                                 initializer=_worker_init) as pool:
            for future in [pool.submit(_train_unit, unit, cfg) for unit in units]:
                future.result()
    return [load_model(f).eval() for f in folders]


def _split(idx: list[int], max_models: int) -> list[list[int]]:
    """``idx`` in ``ceil(n / max_models)`` consecutive parts whose sizes differ by at most 1."""
    k = -(-len(idx) // max_models)
    size, extra = divmod(len(idx), k)
    parts, lo = [], 0
    for p in range(k):
        hi = lo + size + (p < extra)
        parts.append(idx[lo:hi])
        lo = hi
    return parts


# relative CPU time of one run-step (benchmarks/bench_sae.py), for scheduling only
_COST = {"vanilla": 1.0, "batchtopk": 1.4, "matryoshka": 1.6, "mp": 3.0}


@dataclasses.dataclass(frozen=True)
class _Unit:
    """One batched model to train: its SAE, MP threshold, and each run's spec, seed, folder."""

    sae: str
    threshold: float
    specs: list
    seeds: list
    folders: list

    def cost(self) -> float:
        return _COST[self.sae] * (len(self.seeds) + 16)  # + the per-step overhead, in runs


def _train_unit(unit: _Unit, cfg: TrainConfig) -> None:
    """Train one batched model and save each of its runs (in a worker or in-process)."""
    model = make_toy_sae(unit.sae, unit.seeds, mp_threshold=unit.threshold)
    stream = ToyStream(unit.specs, unit.seeds, batch_size=cfg.batch_size)
    train(model, stream, cfg)
    for j, folder in enumerate(unit.folders):
        save_checkpoint(folder, model.get_run(j), cfg=cfg)


def _worker_init() -> None:
    """One torch thread per worker (two threads on 20-wide tensors are slower than one)."""
    torch.set_num_threads(1)
    # Keep freed blocks for reuse instead of handing each multi-MB temporary back to the OS
    # and faulting it in again on the next step (glibc; ~10 % of a toy step otherwise).
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 31)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------------------------------------
# evaluation


@dataclasses.dataclass(frozen=True)
class ToyScores:
    """How one trained run compares with the ground truth (every number the figures show)."""

    run: ToyRun
    """The run."""
    flat_mse: float
    """Within-level correlation error on the aligned Gram ``D̂D̂ᵀ`` (our definition)."""
    hier_mse: float
    """Cross-level correlation on ``D̂D̂ᵀ`` (our definition)."""
    cross_family_mse: float
    """Correlation between children of different parents on ``D̂D̂ᵀ``."""
    flat_mse_alignment: float
    """As ``flat_mse`` on the alignment matrix ``FD̂ᵀ``."""
    hier_mse_alignment: float
    """As ``hier_mse`` on ``FD̂ᵀ``."""
    mean_cosine: float
    """Mean cosine between each feature and its matched atom."""
    parent_cosine: np.ndarray
    """(9,) cosine of each child's atom with its parent's direction (absorption)."""
    child_cosine: np.ndarray
    """(9,) cosine of each child's atom with its own direction (recovered when ≥ 0.5)."""
    l0: float
    """Realised L0 on 10,000 fresh samples."""
    fvu: float
    """Fraction of variance unexplained on the same samples."""
    gram: np.ndarray
    """(20, 20) aligned ``D̂D̂ᵀ``."""
    alignment: np.ndarray
    """(20, 20) ``A_ij = ⟨f_i, d̂_j⟩``."""
    reference_codes: np.ndarray
    """(n_reference, 20) learned codes on the reference batch, columns aligned to features."""
    atoms: np.ndarray
    """(20, 20) matched atoms, unit norm, row ``i`` ↔ feature ``i``."""
    features: np.ndarray
    """(20, 20) the run's ground-truth directions."""

    def summary(self) -> dict[str, Any]:
        """Scalar numbers as a JSON-able dict."""
        return {
            **self.run.describe(),
            "flat_mse": self.flat_mse, "hier_mse": self.hier_mse,
            "cross_family_mse": self.cross_family_mse,
            "flat_mse_alignment": self.flat_mse_alignment,
            "hier_mse_alignment": self.hier_mse_alignment,
            "mean_cosine": self.mean_cosine, "l0": self.l0, "fvu": self.fvu,
        }


def reference_codes(spec: ToySpec, n: int = 100, seed: int = 0) -> np.ndarray:
    """Return the reference codes of Fig. 11b: ``n`` samples, rows sorted by the tree.

    The same for every run and SAE (a fixed seed), rows ordered by their first active
    feature, then the next (so the samples of one top-level node sit together).
    """
    z = spec.codes(n, torch_generator(derive_seed(seed, "reference"))).numpy()
    active = z != 0
    first = np.where(active.any(1), active.argmax(1), z.shape[1])
    order = np.lexsort((~active).T[::-1].tolist() + [first])
    return z[order]


def evaluate_toy_run(
    model: BaseSAE,
    run: ToyRun,
    *,
    n_match: int = 1000,
    n_eval: int = 10_000,
    reference: np.ndarray | None = None,
) -> ToyScores:
    """Score one trained run against its ground truth.

    The model is matched to the features by the authors' rule (Hungarian assignment on the
    activations of ``n_match`` binary samples), then the aligned,
    unit-normalised atoms give the flat/hierarchical MSE and the absorption cosines.

    Parameters
    ----------
    model : BaseSAE
        A standalone (unbatched) toy SAE trained on ``run``.
    run : ToyRun
    n_match : int, default=1000
        Binary samples for the matching.
    n_eval : int, default=10000
        Fresh samples for the realised L0 and FVU.
    reference : ndarray of shape (n, 20), optional
        True codes of the reference batch (default: :func:`reference_codes` of the spec).

    Returns
    -------
    ToyScores
    """
    with torch.no_grad():
        return _evaluate(model, run, n_match, n_eval, reference)


def _evaluate(model: BaseSAE, run: ToyRun, n_match: int, n_eval: int, reference) -> ToyScores:
    spec = run.spec
    gen = data_generator(run.seed)
    feats64, norms64 = spec.features(gen)  # the same draw as the run's training stream
    feats = feats64.float()
    dtype = model.decoder_weight.dtype

    g = torch_generator(derive_seed(run.seed, "match"))
    match_true = spec.codes(n_match, g, norms=norms64, binary=True)
    match_x = (match_true @ feats64).to(dtype)
    codes = model.encode(match_x)
    al = hungarian_alignment(model.dictionary.detach(), feats, codes=codes,
                             true_codes=match_true.float())
    fh = flat_hierarchical_mse(al.atoms, feats, tree=spec.tree)
    ab = absorption_score(al.atoms, feats, tree=spec.tree)

    g = torch_generator(derive_seed(run.seed, "eval"))
    x = (spec.codes(n_eval, g, norms=norms64) @ feats64).to(dtype)
    z = model.encode(x)
    x_hat = model.decode(z)
    fvu = float(((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())

    ref = reference_codes(spec) if reference is None else reference
    ref_x = (torch.as_tensor(ref) @ feats64).to(dtype)
    ref_codes = al.aligned_codes(model.encode(ref_x))
    return ToyScores(
        run=run,
        flat_mse=float(fh.flat_mse), hier_mse=float(fh.hier_mse),
        cross_family_mse=float(fh.cross_family_mse),
        flat_mse_alignment=float(fh.flat_mse_alignment),
        hier_mse_alignment=float(fh.hier_mse_alignment),
        mean_cosine=float(np.mean(al.cosine)),
        parent_cosine=ab.parent_cosine, child_cosine=ab.child_cosine,
        l0=float((z != 0).sum(-1).double().mean()), fvu=fvu,
        gram=al.gram, alignment=al.alignment, reference_codes=np.asarray(ref_codes),
        atoms=np.asarray(al.atoms), features=feats64.numpy(),
    )



def grid(scores: Sequence[ToyScores], field: str, saes: Sequence[str],
         cosines: Sequence[float]) -> np.ndarray:
    """Arrange one scalar of many runs as ``(len(saes), len(cosines), n_seeds)``.

    Runs are matched on ``run.sae`` and ``run.spec.within_level_cosine``; seeds fill the last
    axis in the order met (NaN where a cell has fewer runs than the fullest one).
    """
    cells: dict[tuple[str, float], list[float]] = {}
    for sc in scores:
        cells.setdefault((sc.run.sae, float(sc.run.spec.within_level_cosine)), []).append(
            float(getattr(sc, field)))
    width = max((len(v) for v in cells.values()), default=0)
    out = np.full((len(saes), len(cosines), width), np.nan)
    for i, sae in enumerate(saes):
        for j, c in enumerate(cosines):
            vals = cells.get((sae, float(c)), [])
            out[i, j, :len(vals)] = vals
    return out


def pooled_absorption(scores: Sequence[ToyScores]) -> Any:
    """Absorption of several runs pooled as Table 1 reports it (mean over recovered pairs).

    Returns the :class:`~mplib.metrics.AbsorptionResult` of ``absorption_score`` on the runs'
    stacked aligned atoms: NaN score when fewer than half of the (run, child) pairs are
    recovered (child-atom cosine ≥ 0.5), recovered fraction always given.
    """
    if not scores:
        raise ValueError("scores must hold at least one run")
    return absorption_score(np.stack([sc.atoms for sc in scores]),
                            np.stack([sc.features for sc in scores]), tree=scores[0].run.spec.tree)
