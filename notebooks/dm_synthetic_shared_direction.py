# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: mplib (.venv)
#     language: python
#     name: mplib
# ---

# %% [markdown]
# # Synthetic world — an isotropic world does not give the paper's > 90 % norm predictability; a shared direction or an offset is needed
#
# *Decomposing The Dark Matter of Sparse Autoencoders* (Engels, Riggs & Tegmark, 2024) report that
# more than 90 % of the variance of the squared SAE error norm `‖e‖²` is linearly predictable
# from `x` (no intercept). **An isotropic synthetic world does not reproduce this**: with
# features in general position (`shared_cosine = 0`) no linear functional of `x` measures the
# token's total feature mass, which drives the error, and a no-intercept fit cannot even
# represent the constant part of `‖e‖²`. This notebook measures where, if anywhere, it does:
# it sweeps the **shared direction** `shared_cosine` ρ (features `f_i = √ρ·u + √(1−ρ)·g_i`,
# mean pairwise cosine ≈ ρ) and, separately, the **offset** `offset_norm` (a constant vector
# added to every token, which lets a no-intercept fit act as if it had an intercept), so the two
# effects are not confused. Norm R² is reported **with and without** an intercept, beside the
# vector R² and the nonlinear FVU. One TopK SAE (k = 8) per world; held-out R² on one seeded
# half split of the analysis tokens.
#
# **Offline substitute:** synthetic world only (this sweep has no paper counterpart).
# Runtime on 2 CPU cores: smoke seconds, quick ≈ 2 min (measured under load).

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # seeds the world's tokens, the splits and the SAEs
d: int = 64  # activation dimension (full: 128)
n_features: int = 2048  # true features (full: 8192)
n_train: int = 20000  # SAE training tokens (full: 40000)
n_analysis: int = 20000  # analysis tokens (full: 40000)
n_steps: int = 500  # SAE training steps (full: 1000)
width: int = 64  # SAE width (full: 256)
k: int = 8  # TopK k
shared_cosines: list = [0.0, 0.25, 0.5, 0.75]  # rho values, offset 0 (full: adds 0.1)
offset_norms: list = [2.0, 4.0]  # offsets swept at rho 0 (full: adds 1)

# %%
import matplotlib.pyplot as plt

import mplib
from mplib.datasets import DarkMatterConfig
from mplib.experiments.dark_matter import WorldSetup, analyse_sae, train_world_sae, world_samples
from mplib.plotting import save_figure, use_style
from mplib.results import claim, format_claims

STEM = "dm_synthetic_shared_direction"
params = dict(preset=preset, seed=seed, d=d, n_features=n_features, n_train=n_train,
              n_analysis=n_analysis, n_steps=n_steps, width=width, k=k,
              shared_cosines=shared_cosines, offset_norms=offset_norms)
use_style()
mplib.show_versions()
base = WorldSetup(world=DarkMatterConfig(d=d, n_features=n_features), n_train=n_train,
                  n_analysis=n_analysis, data_seed=seed, n_steps=n_steps)

# %% [markdown]
# ## One SAE per world

# %%
def run(setup):
    """Train (or load) the SAE of one world and return its numbers."""
    sae = train_world_sae(setup, width, k, seed=seed)
    analysis = world_samples(setup)[1]
    return {**analyse_sae(sae, analysis, seed=seed).scalars(),
            "realised_mean_cosine": analysis.mean_cosine}


rho_runs = [{"shared_cosine": r, "offset_norm": 0.0,
             **run(base.replace(world_shared_cosine=float(r)))} for r in shared_cosines]
offset_runs = [{"shared_cosine": 0.0, "offset_norm": o,
                **run(base.replace(world_offset_norm=float(o)))} for o in offset_norms]
for r in rho_runs + offset_runs:
    print(f"rho={r['shared_cosine']:.2f} (realised {r['realised_mean_cosine']:.3f}) "
          f"offset={r['offset_norm']:.1f}: norm R² {r['norm_r2']:+.3f} "
          f"(intercept {r['norm_r2_intercept']:.3f}), vector R² {r['vector_r2']:.3f}, "
          f"nonlinear FVU {r['nonlinear_fvu']:.3f}, FVU {r['fvu']:.3f}")

# %% [markdown]
# ## Against the shared cosine, and against the offset

# %%
fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.6), sharey=True)
for ax, runs_, key, label in ((axes[0], rho_runs, "shared_cosine", "shared cosine ρ"),
                              (axes[1], [rho_runs[0]] + offset_runs, "offset_norm",
                               "offset norm (ρ = 0)")):
    xs = [r[key] for r in runs_]
    ax.plot(xs, [r["norm_r2"] for r in runs_], "o-", label="norm R², no intercept (paper)")
    ax.plot(xs, [r["norm_r2_intercept"] for r in runs_], "s--", label="norm R², intercept")
    ax.plot(xs, [r["vector_r2"] for r in runs_], "^-", label="vector R²")
    ax.plot(xs, [r["nonlinear_fvu"] for r in runs_], "v-", label="nonlinear FVU")
    ax.axhline(0.9, c="k", lw=0.6, ls=":")
    ax.set(xlabel=label, ylim=(max(-1.2, ax.get_ylim()[0]), 1.05))
axes[0].set_ylabel("held-out R² / FVU")
axes[0].legend(fontsize=5)
plt.show()

# %% [markdown]
# ## Claims, checked on our numbers

# %%
iso = rho_runs[0]
best_rho = max(rho_runs, key=lambda r: r["norm_r2"])
best_all = max(rho_runs + offset_runs, key=lambda r: r["norm_r2"])
rising = bool(rho_runs[-1]["norm_r2_intercept"] > iso["norm_r2_intercept"] + 0.05)
claims = [
    claim("isotropic_not_90", "an isotropic world does not reach the paper's > 90 % norm "
          "predictability", paper_value="> 0.9 (Gemma)", ours=float(iso["norm_r2"]),
          verdict=bool(iso["norm_r2"] < 0.9),
          note=f"ρ = 0, offset 0: norm R² {iso['norm_r2']:.3f} without intercept, "
               f"{iso['norm_r2_intercept']:.3f} with; pilot ≈ 0.015"),
    claim("shared_direction_raises", "a shared direction raises norm predictability",
          paper_value="pilot: ≈ 0.72–0.74 at cosine ≈ 0.5", ours=float(best_rho["norm_r2"]),
          verdict=rising,
          note=f"best no-intercept norm R² over ρ: {best_rho['norm_r2']:.3f} at ρ = "
               f"{best_rho['shared_cosine']}; with intercept {iso['norm_r2_intercept']:.3f} "
               f"(ρ=0) → {rho_runs[-1]['norm_r2_intercept']:.3f} (ρ={shared_cosines[-1]}); "
               "verdict on the with-intercept rise (> 0.05)"),
    claim("where_90", "> 90 % norm predictability is reached somewhere in the sweep",
          paper_value="> 0.9", ours=float(best_all["norm_r2"]),
          verdict=bool(best_all["norm_r2"] > 0.9),
          note=f"best no-intercept norm R² of the sweep: {best_all['norm_r2']:.3f} at ρ = "
               f"{best_all['shared_cosine']}, offset {best_all['offset_norm']}"),
]
print(format_claims(claims))

# %%
save_figure(fig, STEM, preset=preset,
            results={"rho_sweep": rho_runs, "offset_sweep": offset_runs, "claims": claims,
                     "pilot": {"norm_r2_isotropic": 0.015, "norm_r2_cosine_0.5": [0.72, 0.74]}},
            params=params, paper="Engels et al. 2024 (SAE dark matter)",
            figure="norm predictability (Sec. 3), synthetic sweep",
            substitute="synthetic dark-matter world with TopK SAEs trained here")

# %% [markdown]
# ## Paper vs ours
# See the claims above and the JSON (every world's numbers).
