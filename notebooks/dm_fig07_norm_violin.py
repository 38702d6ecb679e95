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
# # Figure 7 — how linearly predictable is the norm of each part of the SAE output?
#
# *Decomposing The Dark Matter of Sparse Autoencoders* (Engels, Riggs & Tegmark, 2024), Fig. 7:
# for every SAE, the squared norms of `Sae(x)`, the error `e`, the nonlinear error,
# `Sae(x) + NonlinearError` (= `x − LinearError`; the paper's tick reads "Sae(x) −
# NonlinearError(x)", we label what is computed), the linear error, and `x` itself are each
# regressed on `x` (no intercept, held-out R² on one seeded half split); the nonlinear error
# inside uses a map fitted on all tokens, as in the paper. In Gemma all of them are highly
# predictable (axis 0.55–1.03). We add the same regressions **with** an intercept (ours,
# labelled), because a no-intercept fit cannot represent the large constant part of a squared
# norm unless `x` has a mean direction.
#
# **Offline substitute:** the synthetic world and every TopK SAE of `dm_fig01_scaling` (widths
# × k, from its cache). **What to look at:** in this isotropic world the no-intercept R² of
# squared norms is poor — even `‖x‖²` — unlike Gemma, whose activations carry a large mean;
# with an intercept the error norm stays far below 0.9. Runtime: seconds after
# `dm_fig01_scaling` (measured under load).

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # seeds the world's tokens, the splits and the SAEs
d: int = 64  # activation dimension (full: 128)
n_features: int = 2048  # true features (full: 8192)
n_train: int = 20000  # SAE training tokens (full: 60000)
n_analysis: int = 20000  # analysis tokens (full: 40000)
n_steps: int = 500  # SAE training steps (full: 1500)
widths: list = [64, 128, 256]  # SAE widths (full: 128 .. 1024)
ks: list = [4, 8]  # TopK k values (full: [8])

# %%
import matplotlib.pyplot as plt
import numpy as np

import mplib
from mplib.datasets import DarkMatterConfig
from mplib.experiments.dark_matter import (
    NORM_QUANTITIES,
    WorldSetup,
    norm_prediction,
    train_world_sae,
    world_samples,
)
from mplib.plotting import save_figure, use_style
from mplib.results import claim, format_claims

STEM = "dm_fig07_norm_violin"
params = dict(preset=preset, seed=seed, d=d, n_features=n_features, n_train=n_train,
              n_analysis=n_analysis, n_steps=n_steps, widths=widths, ks=ks)
use_style()
mplib.show_versions()
setup = WorldSetup(world=DarkMatterConfig(d=d, n_features=n_features), n_train=n_train,
                   n_analysis=n_analysis, data_seed=seed, n_steps=n_steps)

# %% [markdown]
# ## Norm regressions for every SAE

# %%
analysis = world_samples(setup)[1]
records = []
for k in ks:
    for w in widths:
        res = norm_prediction(train_world_sae(setup, w, k, seed=seed), analysis, seed=seed)
        records.append({"width": w, "k": k, **{q: res[q] for q in NORM_QUANTITIES}})
for q in NORM_QUANTITIES:
    r = [rec[q]["r2"] for rec in records]
    ri = [rec[q]["r2_intercept"] for rec in records]
    print(f"{q:>25}: no intercept {np.min(r):+.3f} … {np.max(r):+.3f}   "
          f"with intercept {np.min(ri):.3f} … {np.max(ri):.3f}")

# %% [markdown]
# ## Violins per quantity
# Left: no intercept (the paper's regression); right: with an intercept (ours). One point per
# SAE (width × k).

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 2.8), sharey=False)
for ax, key, title in ((axes[0], "r2", "no intercept (paper)"),
                       (axes[1], "r2_intercept", "with intercept (ours)")):
    data = [[rec[q][key] for rec in records] for q in NORM_QUANTITIES]
    if len(records) > 1:
        ax.violinplot(data, showmedians=True)
    for i, vals in enumerate(data):
        ax.scatter(np.full(len(vals), i + 1.0), vals, s=6, c="k", zorder=3)
    ax.axhline(0.9, c="k", lw=0.6, ls=":")
    ax.set_xticks(range(1, len(NORM_QUANTITIES) + 1), NORM_QUANTITIES, rotation=30,
                  ha="right", fontsize=6)
    ax.set(ylabel="held-out R² of the squared norm", title=title)
plt.show()

# %% [markdown]
# ## The paper's claims, checked on our numbers

# %%
err = np.array([rec["SaeError"]["r2"] for rec in records])
err_b = np.array([rec["SaeError"]["r2_intercept"] for rec in records])
xn = np.array([rec["x"]["r2"] for rec in records])
claims = [
    claim("error_norm_predictable", "the squared SAE error norm is linearly predictable from x "
          "(> 90 %)", paper_value="> 0.9", ours=float(np.median(err)),
          verdict=bool(np.median(err) > 0.9), partly=bool(np.median(err_b) > 0.5),
          note=f"median held-out R² over {len(records)} SAEs, no intercept; with an intercept "
               f"{np.median(err_b):.2f} (ours); isotropic synthetic world"),
    claim("x_norm_predictable", "‖x‖² itself is linearly predictable from x", paper_value="≈ 1",
          ours=float(np.median(xn)), verdict=bool(np.median(xn) > 0.9),
          note="no intercept; in Gemma the large mean of x makes this near 1; our world has a "
               "near-zero mean (offset_norm = 0)"),
]
print(format_claims(claims))

# %%
save_figure(fig, STEM, preset=preset,
            results={"quantities": list(NORM_QUANTITIES), "records": records, "claims": claims,
                     "r2_definition": "held-out R² of a scalar target (squared norm)"},
            params=params, paper="Engels et al. 2024 (SAE dark matter)", figure="Fig. 7",
            substitute="synthetic dark-matter world with TopK SAEs trained here")

# %% [markdown]
# ## Paper vs ours
# See the claims above and the JSON (`records`: both R² for every SAE and quantity).
