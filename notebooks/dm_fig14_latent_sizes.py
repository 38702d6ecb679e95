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
# # Figure 14 — the norm probe tracks each latent's typical activation size
#
# *Decomposing The Dark Matter of Sparse Autoencoders* (Engels, Riggs & Tegmark, 2024), Sec. 3.7,
# Fig. 14, a mechanism for norm predictability: fit `a*` predicting `‖Sae(x) − b_dec‖²` from
# `Sae(x) − b_dec` (no intercept, held-out R² on one seeded half split); for every latent i
# compare `W_dec[i] · a*` with the latent's **mean activation when active**. With nearly
# orthogonal decoder rows `‖Σ c_i w_i‖² ≈ Σ c_i²`, and if each latent fires at a steady size
# `c̄_i` this is `≈ Σ c_i c̄_i`, linear in the reconstruction with `a* ≈ Σ_j c̄_j w_j`.
#
# **Offline substitute:** the synthetic world, with its `size_std` knob (the spread of true
# activation sizes `|N(1, size_std)|`) swept, one TopK SAE (k = 8) per world; Gemma's 131k SAE
# is out of reach. **What to look at:** the two curves of each panel (latents sorted by mean
# active value, moving average) track each other, more so when sizes are steady.
# Runtime on 2 CPU cores: smoke seconds, quick ≈ 30 s, full ≈ 1 min (measured under load).

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # seeds the world's tokens, the splits and the SAEs
d: int = 64  # activation dimension (full: 128)
n_features: int = 2048  # true features (full: 8192)
n_train: int = 20000  # SAE training tokens (full: 60000)
n_analysis: int = 20000  # analysis tokens (full: 40000)
n_steps: int = 500  # SAE training steps (full: 1500)
width: int = 128  # SAE width (full: 256)
k: int = 8  # TopK k
size_stds: list = [0.05, 0.15, 0.5]  # spreads of the true activation sizes (0.15: the default world)

# %%
import matplotlib.pyplot as plt
import numpy as np

import mplib
from mplib.datasets import DarkMatterConfig
from mplib.experiments.dark_matter import (
    WorldSetup,
    latent_size_probe,
    train_world_sae,
    world_samples,
)
from mplib.plotting import save_figure, use_style
from mplib.results import claim, format_claims

STEM = "dm_fig14_latent_sizes"
params = dict(preset=preset, seed=seed, d=d, n_features=n_features, n_train=n_train,
              n_analysis=n_analysis, n_steps=n_steps, width=width, k=k, size_stds=size_stds)
use_style()
mplib.show_versions()
base = WorldSetup(world=DarkMatterConfig(d=d, n_features=n_features), n_train=n_train,
                  n_analysis=n_analysis, data_seed=seed, n_steps=n_steps)

# %% [markdown]
# ## One SAE per world, and its probe

# %%
probes = {}
for s in size_stds:
    setup = base.replace(world_size_std=float(s))
    sae = train_world_sae(setup, width, k, seed=seed)
    probes[s] = latent_size_probe(sae, world_samples(setup)[1].X.astype(np.float64), seed=seed)
    print(f"size_std={s}: probe R² {probes[s]['r2']:.3f}, Pearson(W_dec·a*, mean active) "
          f"{probes[s]['pearson']:.3f} over {len(probes[s]['probe'])} live latents")

# %% [markdown]
# ## Probe vs mean active value, per world
# Latents sorted by mean activation when active (descending); moving average over a window of
# a twentieth of the live latents.

# %%
fig, axes = plt.subplots(1, len(size_stds), figsize=(2.7 * len(size_stds), 2.5), squeeze=False)
for ax, s in zip(axes[0], size_stds):
    p = probes[s]
    order = np.argsort(-p["mean_active"])
    win = max(1, len(order) // 20)
    kernel = np.ones(win) / win
    ax.plot(np.convolve(p["mean_active"][order], kernel, "valid"), label="mean active value")
    ax.plot(np.convolve(p["probe"][order], kernel, "valid"), label="W_dec[i] · a*")
    ax.set(xlabel="latent (sorted)", title=f"size_std={s}: r={p['pearson']:.2f}")
    ax.legend(fontsize=5)
plt.show()

# %% [markdown]
# ## The paper's claims, checked on our numbers

# %%
corr = {s: probes[s]["pearson"] for s in size_stds}
default = corr.get(0.15, next(iter(corr.values())))
claims = [
    claim("probe_tracks_size", "the norm probe W_dec·a* tracks each latent's mean active value",
          paper_value="curves track each other", ours=float(default),
          verdict=bool(default > 0.5), partly=bool(max(corr.values()) > 0.5),
          note="Pearson correlation over live latents in the default world (size_std 0.15); "
               "per size_std: " + ", ".join(f"{s}: {c:.2f}" for s, c in corr.items())
               + "; threshold 0.5"),
]
print(format_claims(claims))

# %%
save_figure(fig, STEM, preset=preset,
            results={"worlds": [{"size_std": s, "probe_r2": probes[s]["r2"],
                                 "pearson": probes[s]["pearson"],
                                 "n_live": len(probes[s]["probe"]),
                                 "probe": probes[s]["probe"],
                                 "mean_active": probes[s]["mean_active"]} for s in size_stds],
                     "claims": claims},
            params=params, paper="Engels et al. 2024 (SAE dark matter)", figure="Fig. 14",
            substitute="synthetic dark-matter world with TopK SAEs trained here")

# %% [markdown]
# ## Paper vs ours
# See the claims above and in the JSON.
