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
# # Figures 11–12 — larger SAEs fail on the same tokens, and the nonlinear error predicts how
#
# *Decomposing The Dark Matter of Sparse Autoencoders* (Engels, Riggs & Tegmark, 2024), Sec. 3.3
# (per-token scaling). For each pair of SAE widths (i, j): the held-out R² of regressing the
# per-token error norm `‖e_j‖` (not squared) on `[‖e_i‖, 1]` (with intercept, the paper's
# choice here); then the percentage of the remaining variance explained by adding the
# nonlinear error norm `‖n_i‖`: `(R²_with − R²_without) / (1 − R²_without) · 100`. `n_i` comes
# from the vector map fitted on the fit half and applied to every token (as the paper does).
#
# **Offline substitute:** the synthetic dark-matter world and TopK SAEs (k = 8) of
# `dm_fig01_scaling` (loaded from its cache), in place of Gemma-2-9B and Gemma Scope widths
# 32k–1M. **What to look at:** the off-diagonal R² of (a) are high (the same hard tokens); (b)
# adding `‖n_i‖` explains part of what is left; (c) the error norms of all widths rise and fall
# together token by token. Runtime on 2 CPU cores: seconds at every preset once
# `dm_fig01_scaling` has trained the SAEs (measured under load).

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # seeds the world's tokens, the splits and the SAEs
d: int = 64  # activation dimension (full: 128)
n_features: int = 2048  # true features (full: 8192)
n_train: int = 20000  # SAE training tokens (full: 60000)
n_analysis: int = 20000  # analysis tokens (full: 40000)
n_steps: int = 500  # SAE training steps (full: 1500)
widths: list = [64, 128, 256]  # SAE widths, increasing (full: 128 .. 1024)
k: int = 8  # TopK k of every SAE
first_token: int = 1000  # first of the 100 consecutive tokens shown in panel (c)

# %%
import matplotlib.pyplot as plt
import numpy as np

import mplib
from mplib.datasets import DarkMatterConfig
from mplib.experiments.dark_matter import WorldSetup, world_saes
from mplib.metrics import per_token_scaling
from mplib.plotting import save_figure, use_style
from mplib.results import claim, format_claims

STEM = "dm_per_token"
params = dict(preset=preset, seed=seed, d=d, n_features=n_features, n_train=n_train,
              n_analysis=n_analysis, n_steps=n_steps, widths=widths, k=k,
              first_token=first_token)
use_style()
mplib.show_versions()
setup = WorldSetup(world=DarkMatterConfig(d=d, n_features=n_features), n_train=n_train,
                   n_analysis=n_analysis, data_seed=seed, n_steps=n_steps)

# %% [markdown]
# ## SAEs (cached) and the per-token regressions

# %%
runs = world_saes(setup, widths, [k], seed=seed)
norms = np.stack([a.error_norm for _, a in runs])
nonlinear = np.stack([a.nonlinear_norm for _, a in runs])
linear = np.stack([a.linear_norm for _, a in runs])
res = per_token_scaling(norms, nonlinear, seed=seed)
upper = np.triu_indices(len(widths), 1)
print("R² ‖e_j‖ ~ ‖e_i‖:\n", np.round(res.r2, 3))
print("gain from ‖n_i‖ (%):\n", np.round(res.gain_percent, 1))

# %% [markdown]
# ## Panels
# (a) R² between widths (upper triangle: row = predictor width i, column = target width j);
# (b) % of the remaining variance explained by adding `‖n_i‖`; (c) `‖e‖` of every width over
# 100 consecutive analysis tokens; (d) the linear and nonlinear error norms of the widest SAE
# over the same tokens.

# %%
fig, axes = plt.subplots(1, 4, figsize=(11, 2.6))
labels = [str(w) for w in widths]
for ax, mat, title, fmt in ((axes[0], res.r2, "(a) R² of ‖e_j‖ from ‖e_i‖", "{:.2f}"),
                            (axes[1], res.gain_percent, "(b) gain from ‖n_i‖ (%)", "{:.0f}")):
    shown = np.where(np.triu(np.ones_like(mat, dtype=bool), 1), mat, np.nan)
    ax.imshow(shown, cmap="viridis")
    for i, j in zip(*upper):
        ax.text(j, i, fmt.format(mat[i, j]), ha="center", va="center", fontsize=6, c="w")
    ax.set_xticks(range(len(widths)), labels)
    ax.set_yticks(range(len(widths)), labels)
    ax.set(xlabel="target width j", ylabel="predictor width i", title=title)
span = slice(first_token, min(first_token + 100, norms.shape[1]))
t = np.arange(norms.shape[1])[span]
for w, row in zip(widths, norms):
    axes[2].plot(t, row[span], lw=0.8, label=f"W={w}")
axes[2].set(xlabel="token", ylabel="‖e‖", title="(c) error norm per token")
axes[2].legend(fontsize=5)
axes[3].plot(t, linear[-1][span], lw=0.8, label="‖linear error‖")
axes[3].plot(t, nonlinear[-1][span], lw=0.8, label="‖nonlinear error‖")
axes[3].set(xlabel="token", ylabel="norm", title=f"(d) parts, W={widths[-1]}")
axes[3].legend(fontsize=5)
plt.show()

# %% [markdown]
# ## The paper's claims, checked on our numbers

# %%
off = res.r2[upper]
gain = res.gain_percent[upper]
claims = [
    claim("same_hard_tokens", "larger SAEs struggle on the same tokens as smaller ones",
          paper_value="high per-token R² between widths", ours=float(off.mean()),
          verdict=bool(off.min() > 0.7), partly=bool(off.mean() > 0.5),
          note=f"held-out R² of ‖e_j‖ ~ [‖e_i‖, 1] over width pairs: mean {off.mean():.2f}, "
               f"range {off.min():.2f}–{off.max():.2f}; pilot 0.84–0.94; threshold: every pair "
               "> 0.7"),
    claim("nonlinear_predicts_scaling", "the nonlinear error norm helps predict per-token "
          "scaling", paper_value="positive gain", ours=float(np.mean(gain)),
          verdict=bool(np.mean(gain) > 1.0),
          note="mean % of the remaining variance explained by adding ‖n_i‖ (threshold 1 %)"),
]
print(format_claims(claims))

# %%
save_figure(fig, STEM, preset=preset,
            results={"widths": widths, "k": k, "r2": res.r2, "r2_with_nonlinear":
                     res.r2_with_nonlinear, "gain_percent": res.gain_percent,
                     "tokens_shown": [int(t[0]), int(t[-1])],
                     "pilot": {"per_token_r2": [0.84, 0.94]}, "claims": claims},
            params=params, paper="Engels et al. 2024 (SAE dark matter)", figure="Figs. 11–12",
            substitute="synthetic dark-matter world with TopK SAEs trained here")

# %% [markdown]
# ## Paper vs ours
# See the claims table above and in the JSON.
