"""SAE dark matter in the synthetic world (Engels, Riggs & Tegmark 2024, offline analogue).

Recipe shared by the ``dm_*`` notebooks:

1. A world :class:`mplib.datasets.DarkMatterConfig` and a :class:`WorldSetup` (token counts,
   SAE recipe). Two disjoint token sets are drawn with different seeds: one trains the SAEs,
   the other (the *analysis set*) is used for every regression.
2. TopK SAEs (k active latents) trained on the training set: Adam 3e-3, cosine decay, batch
   1,024, decoder rows renormalised to unit norm after each step, decoder bias started at the
   data mean. Cached under ``data/cache/dm_world/`` keyed by the world, the recipe, width, k,
   seed and the SAE code.
3. :func:`analyse_sae`: on the analysis set, the paper's regressions with one seeded split
   (fit on the first half of the permuted tokens, score on the second half): the vector R²
   of ``e`` from ``x`` (:func:`mplib.metrics.r2_per_dim`), norm R² of ``‖e‖²`` (with and
   without an intercept), FVU, normalised MSE and the nonlinear FVU ``FVU(Sae(x) + x a)``
   on the held-out half (primary) and on all tokens (as the paper codes it), and the
   ground-truth recovery of the true features.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mplib.datasets.dark_matter import DarkMatterConfig, DarkMatterSample, make_dark_matter
from mplib.metrics.dark_matter import (
    decompose_error,
    fit_error_map,
    fvu,
    normalized_mse,
    r2_pooled,
)
from mplib.repro import cached, code_fingerprint, derive_seed, torch_generator
from mplib.sae import TopKSAE, TrainConfig, train

__all__ = [
    "LEARNED_COSINE",
    "NORM_QUANTITIES",
    "SAEAnalysis",
    "WorldSetup",
    "absent_energy_share",
    "analyse_sae",
    "error_part_saes",
    "error_regressions",
    "feature_recovery",
    "latent_size_probe",
    "noise_simulation",
    "norm_prediction",
    "norm_prediction_arrays",
    "reconstruct",
    "train_sae",
    "train_world_sae",
    "world_saes",
    "world_samples",
]

CACHE_STEM = "dm_world"
#: A true feature counts as learned when some decoder row has at least this cosine with it.
LEARNED_COSINE = 0.9


@dataclasses.dataclass(frozen=True)
class WorldSetup:
    """A world, its token sets and the SAE training recipe."""

    world: DarkMatterConfig = DarkMatterConfig()
    """The synthetic world."""
    n_train: int = 100_000
    """Tokens the SAEs train on."""
    n_analysis: int = 60_000
    """Tokens of the analysis set (half fit, half scored)."""
    data_seed: int = 0
    """Seeds both token sets (derived seeds, so they are disjoint draws)."""
    n_steps: int = 2500
    """SAE optimiser steps."""
    batch_size: int = 1024
    """SAE batch size."""
    lr: float = 3e-3
    """Peak Adam learning rate (cosine decay to 10 %)."""

    def __post_init__(self) -> None:
        if not isinstance(self.world, DarkMatterConfig):
            raise TypeError(f"world must be a DarkMatterConfig, got {type(self.world).__name__}")
        for name in ("n_train", "n_analysis", "n_steps", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if self.n_analysis < 4:
            raise ValueError(f"n_analysis must be >= 4, got {self.n_analysis}")
        if not (isinstance(self.lr, float | int) and self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> WorldSetup:
        """Return a copy with fields (or ``world`` fields, prefixed ``world_``) changed."""
        world = {k[6:]: v for k, v in changes.items() if k.startswith("world_")}
        rest = {k: v for k, v in changes.items() if not k.startswith("world_")}
        if world:
            rest["world"] = dataclasses.replace(rest.get("world", self.world), **world)
        return dataclasses.replace(self, **rest)


@functools.lru_cache(maxsize=4)
def world_samples(setup: WorldSetup) -> tuple[DarkMatterSample, DarkMatterSample]:
    """Return the (training, analysis) token sets of a setup (memoised in the process)."""
    train_set = make_dark_matter(setup.n_train, setup.world,
                                 seed=derive_seed(setup.data_seed, "train"))
    analysis = make_dark_matter(setup.n_analysis, setup.world,
                                seed=derive_seed(setup.data_seed, "analysis"))
    return train_set, analysis


def train_sae(X: np.ndarray, *, width: int, k: int, n_steps: int, batch_size: int = 1024,
              lr: float = 3e-3, seed: int = 0) -> TopKSAE:
    """Train one TopK SAE on ``X`` with the recipe of this module (not cached).

    Parameters
    ----------
    X : ndarray of shape (n_tokens, d)
    width, k : int
        Latents and active latents per token.
    n_steps, batch_size : int
    lr : float
    seed : int

    Returns
    -------
    TopKSAE
        In eval mode, float32, on the CPU.
    """
    x = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32)
    sae = TopKSAE(x.shape[1], width, k=min(k, width), seed=seed)
    with torch.no_grad():
        sae.b_dec.copy_(x.mean(0, keepdim=True))
    cfg = TrainConfig(n_steps=n_steps, lr=lr, betas=(0.9, 0.999), schedule="cosine",
                      warmup_steps=min(100, n_steps // 10), final_lr_factor=0.1,
                      grad_clip=None, decoder_norm="unit", batch_size=min(batch_size, len(x)),
                      seed=seed, progress=False, log_every=max(1, n_steps // 10))
    train(sae, x, cfg)
    return sae


def train_world_sae(setup: WorldSetup, width: int, k: int = 8, *, seed: int = 0) -> TopKSAE:
    """Train (or load from the cache) a TopK SAE on the training set of ``setup``."""
    key = [setup.to_dict(), width, k, seed, code_fingerprint("sae", "datasets/dark_matter.py")]
    return cached(CACHE_STEM, f"topk-w{width}-k{k}", key, lambda: train_sae(
        world_samples(setup)[0].X, width=width, k=k, n_steps=setup.n_steps,
        batch_size=setup.batch_size, lr=setup.lr, seed=seed))


def reconstruct(sae: Any, X: np.ndarray, *, batch: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(Sae(x), codes)`` as float64 / float32 numpy arrays, in batches."""
    outs, codes = [], []
    with torch.no_grad():
        for s in range(0, len(X), batch):
            out = sae(torch.as_tensor(np.ascontiguousarray(X[s:s + batch]), dtype=torch.float32))
            outs.append(out.x_hat.double().numpy())
            codes.append(out.codes.numpy())
    return np.concatenate(outs), np.concatenate(codes)


def feature_recovery(decoder: Any, features: np.ndarray) -> np.ndarray:
    """Best cosine between each true feature and any decoder row, shape (n_features,)."""
    D = torch.as_tensor(np.asarray(decoder, dtype=np.float64))
    D = D / D.norm(dim=1, keepdim=True).clamp_min(1e-12)
    F = torch.as_tensor(features, dtype=torch.float64)
    return (F @ D.T).amax(1).numpy()


@dataclasses.dataclass
class SAEAnalysis:
    """The paper's numbers for one SAE on the analysis set (scalars, plus per-token norms)."""

    width: int
    k: int
    l0: float
    """Mean active latents per token (empirical L0)."""
    fvu: float
    """FVU, per-dimension mean (1 − variance-weighted R²), all analysis tokens."""
    normalized_mse: float
    vector_r2: float
    """Held-out R² (per-dimension mean) of ``e`` from ``x``, no intercept."""
    vector_r2_intercept: float
    norm_r2: float
    """Held-out R² of ``‖e‖²`` from ``x``, no intercept."""
    norm_r2_intercept: float
    nonlinear_fvu: float
    """``FVU(Sae(x) + x a)`` on the held-out tokens (primary)."""
    nonlinear_fvu_all: float
    """The same over all tokens, half of them in-sample (as the paper codes it)."""
    learned_fraction: float
    """Share of true features with a decoder cosine ≥ :data:`LEARNED_COSINE`."""
    n_learned: int
    error_norm: np.ndarray = dataclasses.field(repr=False)
    """``‖e_t‖`` on every analysis token."""
    linear_norm: np.ndarray = dataclasses.field(repr=False)
    nonlinear_norm: np.ndarray = dataclasses.field(repr=False)
    """``‖n_t‖`` with the map of the fit half applied to every token."""

    def scalars(self) -> dict[str, float]:
        """Every scalar field (for a JSON record)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if not isinstance(getattr(self, f.name), np.ndarray)}


def error_regressions(X: np.ndarray, X_hat: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """Run the paper's regressions for one reconstruction (see the module docstring).

    Parameters
    ----------
    X, X_hat : ndarray of shape (n_tokens, d)
        Activations and reconstructions (any model: a synthetic-world or a SmolLM2 SAE).
    seed : int, default=0
        Seeds the one half split shared by every regression.

    Returns
    -------
    dict
        Scalars ``fvu``, ``normalized_mse``, ``vector_r2`` (and ``_intercept``), ``norm_r2``
        (and ``_intercept``), ``nonlinear_fvu`` (held-out) and ``nonlinear_fvu_all``; and the
        per-token ``error_norm``, ``linear_norm``, ``nonlinear_norm`` arrays.
    """
    X = np.asarray(X, dtype=np.float64)
    X_hat = np.asarray(X_hat, dtype=np.float64)
    E = X - X_hat
    half = dict(n_fit=0.5, n_eval=None, seed=seed)
    vec = fit_error_map(X, E, **half)
    vec_b = fit_error_map(X, E, intercept=True, **half)
    sq = (E ** 2).sum(1)
    norm = fit_error_map(X, sq, **half)
    norm_b = fit_error_map(X, sq, intercept=True, **half)
    parts = decompose_error(X, X_hat, vec)
    lin_sum = X_hat + parts.linear
    ev = vec.eval_index
    return dict(
        fvu=float(fvu(X, X_hat)), normalized_mse=float(normalized_mse(X, X_hat)),
        vector_r2=vec.r2, vector_r2_intercept=vec_b.r2,
        norm_r2=norm.r2, norm_r2_intercept=norm_b.r2,
        nonlinear_fvu=float(fvu(X[ev], lin_sum[ev])),
        nonlinear_fvu_all=float(fvu(X, lin_sum)),
        error_norm=np.linalg.norm(E, axis=1),
        linear_norm=np.linalg.norm(parts.linear, axis=1),
        nonlinear_norm=np.linalg.norm(parts.nonlinear, axis=1),
    )


def analyse_sae(sae: Any, sample: DarkMatterSample, *, seed: int = 0) -> SAEAnalysis:
    """Run the paper's regressions for one SAE on an analysis sample (see module docstring)."""
    X = sample.X.astype(np.float64)
    X_hat, codes = reconstruct(sae, X)
    rec = feature_recovery(sae.dictionary.detach(), sample.features)
    return SAEAnalysis(
        width=int(sae.n_latents), k=int(sae.hyper["k"]),
        l0=float((codes != 0).sum(1).mean()),
        learned_fraction=float((rec >= LEARNED_COSINE).mean()),
        n_learned=int((rec >= LEARNED_COSINE).sum()),
        **error_regressions(X, X_hat, seed=seed),
    )


def absent_energy_share(P: np.ndarray, sample: DarkMatterSample, learned: np.ndarray
                        ) -> float:
    """Share of the energy of ``P`` in the span of each token's own *absent* active features.

    Our definition: for token ``t`` let ``A_t`` be the true features active on ``t`` that the
    SAE has not learned; the share is ``Σ_t ‖proj_{span A_t} P_t‖² / Σ_t ‖P_t‖²``.

    Parameters
    ----------
    P : ndarray of shape (n_tokens, d)
        An error part (linear or nonlinear) on the tokens of ``sample``.
    sample : DarkMatterSample
    learned : ndarray of bool, shape (n_features,)
        Which true features the SAE learned.

    Returns
    -------
    float
    """
    idx = sample.code_idx
    absent = (idx >= 0) & ~learned[np.maximum(idx, 0)]
    A = torch.as_tensor(sample.features[np.maximum(idx, 0)])  # (T, K, d)
    A = A * torch.as_tensor(absent)[..., None]
    p = torch.as_tensor(P, dtype=torch.float64)
    sol = torch.linalg.lstsq(A.transpose(1, 2), p[..., None], driver="gelsd").solution
    proj = (A.transpose(1, 2) @ sol)[..., 0]
    return float(proj.square().sum() / p.square().sum())


def latent_size_probe(sae: Any, X: np.ndarray, *, seed: int = 0) -> dict[str, Any]:
    """Fit the paper's Fig. 14 probe ``a*``: ``‖Sae(x) − b_dec‖²`` from ``Sae(x) − b_dec``.

    Returns the probe's held-out R², and per latent ``W_dec[i]·a*`` beside the latent's mean
    activation when active (latents that never fire are dropped), with their Pearson
    correlation.
    """
    X_hat, codes = reconstruct(sae, X)
    b = sae.b_dec.detach().double().numpy().reshape(-1)
    R = X_hat - b
    fit = fit_error_map(R, (R ** 2).sum(1), n_fit=0.5, n_eval=None, seed=seed)
    W = sae.dictionary.detach().double().numpy()
    active = codes != 0
    fires = active.sum(0)
    alive = fires > 0
    mean_active = np.where(alive, codes.sum(0) / np.maximum(fires, 1), np.nan)
    probe = W @ fit.coef
    corr = float(np.corrcoef(probe[alive], mean_active[alive])[0, 1]) if alive.sum() > 2 \
        else float("nan")
    return dict(r2=fit.r2, probe=probe[alive], mean_active=mean_active[alive],
                frequency=fires[alive] / len(X), pearson=corr)


def noise_simulation(x: np.ndarray, codes: np.ndarray, decoder: np.ndarray, bias: np.ndarray,
                     *, ablate: Sequence[float], act_noise: Sequence[float],
                     rec_noise: Sequence[float], seed: int = 0) -> dict[str, np.ndarray]:
    """Run the paper's Fig. 15 simulation on perfectly sparse activations.

    ``x`` is perfectly sparse (``codes @ decoder + bias``, or ``Sae(act)``); ``codes`` are the
    encoder's codes of the clean ``x``. For an ablated fraction ``q`` the latents with the
    lowest mean activation over all tokens are zeroed; the reconstruction is
    ``(codes · mask) @ decoder + bias + σ_rec·s·N(0, I)`` and the activations
    ``x′ = x + σ_act·s·N(0, I)``, with ``s`` the root mean per-dimension variance of ``x``
    (our scale: the paper's σ multiply N(0, I) on Gemma's scale). The map ``a`` from ``x′`` to
    the error ``x′ − recon`` is fitted on all tokens; with pooled FVU (``1 − r2_pooled``,
    target ``x′``): nonlinear estimate ``FVU(recon + x′ a)``, linear estimate
    ``FVU(recon) − FVU(recon + x′ a)``.

    Returns
    -------
    dict
        ``linear``, ``nonlinear``, ``fvu`` of shape (n_ablate, n_act, n_rec), and the axes.
    """
    x = np.asarray(x, dtype=np.float64)
    decoder = np.asarray(decoder, dtype=np.float64)
    s = float(np.sqrt(x.var(0).mean()))
    mean_act = np.asarray(codes.mean(0), dtype=np.float64).ravel()  # dense or scipy sparse
    order = np.argsort(mean_act, kind="stable")
    gen = torch_generator(derive_seed(seed, "noise-simulation"))
    z_act = torch.randn(x.shape, generator=gen, dtype=torch.float64).numpy()
    z_rec = torch.randn(x.shape, generator=gen, dtype=torch.float64).numpy()
    shape = (len(ablate), len(act_noise), len(rec_noise))
    lin, nonlin, total = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for i, q in enumerate(ablate):
        mask = np.ones(len(mean_act))
        mask[order[:int(round(q * len(mean_act)))]] = 0.0
        clean = np.asarray(codes @ (mask[:, None] * decoder)) + bias  # (codes · mask) @ D
        for j, sa in enumerate(act_noise):
            xp = x + sa * s * z_act
            for m, sr in enumerate(rec_noise):
                recon = clean + sr * s * z_rec
                err = xp - recon
                if not err.any():
                    lin[i, j, m] = nonlin[i, j, m] = total[i, j, m] = 0.0
                    continue
                fit = fit_error_map(xp, err, n_fit="all")
                f_rec = 1.0 - r2_pooled(xp, recon)
                f_lin = 1.0 - r2_pooled(xp, recon + fit.predict(xp))
                total[i, j, m], nonlin[i, j, m], lin[i, j, m] = f_rec, f_lin, f_rec - f_lin
    return dict(linear=lin, nonlinear=nonlin, fvu=total, ablate=np.asarray(ablate),
                act_noise=np.asarray(act_noise), rec_noise=np.asarray(rec_noise), scale=s)


def world_saes(setup: WorldSetup, widths: Sequence[int], ks: Sequence[int] = (8,), *,
               seed: int = 0) -> list[tuple[TopKSAE, SAEAnalysis]]:
    """Train (or load) a TopK SAE per (width, k) and analyse each on the analysis set."""
    analysis = world_samples(setup)[1]
    out = []
    for k in ks:
        for w in widths:
            sae = train_world_sae(setup, int(w), int(k), seed=seed)
            out.append((sae, analyse_sae(sae, analysis, seed=seed)))
    return out


#: The quantities of the paper's Fig. 7, in its order (labels: what is computed).
NORM_QUANTITIES = ("Sae(x)", "SaeError", "NonlinearError", "Sae(x) + NonlinearError",
                   "LinearError", "x")


def norm_prediction(sae: Any, sample: DarkMatterSample, *, seed: int = 0
                    ) -> dict[str, dict[str, float]]:
    """:func:`norm_prediction_arrays` for a synthetic-world SAE on an analysis sample."""
    X = sample.X.astype(np.float64)
    return norm_prediction_arrays(X, reconstruct(sae, X)[0], seed=seed)


def norm_prediction_arrays(X: np.ndarray, X_hat: np.ndarray, *, seed: int = 0
                           ) -> dict[str, dict[str, float]]:
    """Held-out R² of the squared norm of each Fig. 7 quantity predicted from ``x``.

    The nonlinear error inside comes from a map fitted on **all** tokens (the paper's
    practice for this figure); each norm regression uses one seeded half split, without an
    intercept (the paper's) and with one (ours, labelled).

    Returns
    -------
    dict
        ``{quantity: {"r2": ..., "r2_intercept": ...}}`` over :data:`NORM_QUANTITIES`.
    """
    X = np.asarray(X, dtype=np.float64)
    X_hat = np.asarray(X_hat, dtype=np.float64)
    parts = decompose_error(X, X_hat)
    values = dict(zip(NORM_QUANTITIES, (X_hat, parts.error, parts.nonlinear,
                                        X_hat + parts.nonlinear, parts.linear, X)))
    out = {}
    for name, v in values.items():
        sq = (v ** 2).sum(1)
        out[name] = {"r2": fit_error_map(X, sq, n_fit=0.5, n_eval=None, seed=seed).r2,
                     "r2_intercept": fit_error_map(X, sq, n_fit=0.5, n_eval=None,
                                                   intercept=True, seed=seed).r2}
    return out


def error_part_saes(setup: WorldSetup, *, narrow_width: int, k: int, part_width: int,
                    part_k: int, seed: int = 0) -> dict[str, Any]:
    """Train SAEs on each error part: the ground-truth replacement of the paper's Fig. 8.

    A narrow TopK SAE is trained on the world; the map ``a`` from ``x`` to its error is fitted
    on **all** training tokens (as the paper's probe); TopK SAEs are then trained on the
    linear part ``x a`` and on the nonlinear part ``e − x a`` of the training tokens. Scored on
    the analysis tokens against the true dictionary: the features each part-SAE recovers
    (best decoder cosine ≥ :data:`LEARNED_COSINE`), overall and among the features the narrow
    SAE had **not** learned ("absent"); the mean best cosine over absent features; the FVU of
    each part-SAE on its part; its dead-latent fraction; and the share of each part's energy
    in the span of each token's own absent active features (:func:`absent_energy_share`).

    Returns
    -------
    dict
        ``narrow`` (its analysis scalars) and ``parts``: one dict per part name.
    """
    train_set, analysis = world_samples(setup)
    narrow = train_world_sae(setup, narrow_width, k, seed=seed)
    learned = feature_recovery(narrow.dictionary.detach(), train_set.features) >= LEARNED_COSINE

    def split(sample: DarkMatterSample, fit=None):
        X = sample.X.astype(np.float64)
        X_hat, _ = reconstruct(narrow, X)
        return X, decompose_error(X, X_hat, fit)

    X_tr, parts_tr = split(train_set)
    fit = fit_error_map(X_tr, parts_tr.error, n_fit="all")
    _, parts_an = split(analysis, fit)
    out: dict[str, Any] = {"narrow": analyse_sae(narrow, analysis, seed=seed).scalars(),
                           "n_absent": int((~learned).sum()), "parts": {}}
    key = [setup.to_dict(), narrow_width, k, part_width, part_k, seed,
           code_fingerprint("sae", "datasets/dark_matter.py", "metrics/dark_matter.py")]
    for name in ("linear", "nonlinear"):
        P_tr = getattr(parts_tr, name).astype(np.float32)
        sae = cached(CACHE_STEM, f"part-{name}-w{part_width}", key + [name],
                     lambda P=P_tr: train_sae(P, width=part_width, k=part_k,
                                              n_steps=setup.n_steps,
                                              batch_size=setup.batch_size, lr=setup.lr,
                                              seed=seed))
        P_an = getattr(parts_an, name)
        P_hat, codes = reconstruct(sae, P_an)
        best = feature_recovery(sae.dictionary.detach(), analysis.features)
        out["parts"][name] = {
            "recovered": int((best >= LEARNED_COSINE).sum()),
            "recovered_absent": int((best[~learned] >= LEARNED_COSINE).sum()),
            "recovered_absent_fraction": float((best[~learned] >= LEARNED_COSINE).mean()),
            "mean_best_cosine_absent": float(best[~learned].mean()),
            "fvu": float(fvu(P_an, P_hat)),
            "dead_fraction": float(((codes != 0).sum(0) == 0).mean()),
            "absent_energy_share": absent_energy_share(P_an, analysis, learned),
            "energy": float((P_an ** 2).sum(1).mean()),
        }
    return out
