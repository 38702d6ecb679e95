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
# # Figure 5 — MP-SAE reconstructs better than standard SAEs at every sparsity
#
# *From Flat to Hierarchical* (Costa et al., 2025), Fig. 5: held-out R² against sparsity for
# ReLU, TopK, BatchTopK, JumpReLU and MP-SAE, one SAE per (backbone, k), one panel per backbone
# (SigLIP, DINOv2, CLIP, ViT on ImageNet-1k tokens). The paper's claim: MP-SAE has the higher
# R² at every sparsity on all four (no numbers printed).
#
# **Offline substitutes** (no vision backbone or ImageNet installs offline): (a) 8×8 patches of
# real MNIST digits (d = 64); (b) the 7×7×64 per-location features of a small CNN trained here on
# the digits (d = 64, ≥ 97 % held-out accuracy); (c) MiniLM-L6 token states after layer 3 of 6
# on gensim Wikipedia + news text (d = 384); (d) SmolLM2-135M's residual stream after block 15
# of 30 on the same text (d = 576; the project's shared activation store). Held-out = the
# 1,000 held-out digits, or held-out documents.
#
# **Recipe (ours where the paper is silent).** Tokens centred and scaled to mean squared norm d.
# AdamW, warm-up then cosine decay, weight decay 1e-5, atoms in the unit ball (MP-SAE: on the
# unit sphere), MSE. ReLU: L1 weight adapted towards L0 = k; TopK with AuxK (p/2); BatchTopK;
# JumpReLU with the penalty `c·(L0/k − 1)²`; MP-SAE with k steps and signed selection (as
# `overcomplete`). The paper uses expansion 25, 50 epochs of ImageNet and batch 8,000; here the
# expansion and the steps are the preset's (the JSON says which). The x axis is the *realised*
# L0 on held-out tokens (ReLU and JumpReLU only steer towards k).
# R² = 1 − Σ‖x − x̂‖² / Σ‖x − x̄‖² with the per-dimension mean x̄ (FVU = 1 − R²); the
# JSON also holds `overcomplete`'s global-mean variant.
#
# **What to look at:** whether the red MP-SAE curve lies above the others in every panel; on
# (d), the EleutherAI replication (blog post, Jul 2025) found MP-SAE *worse* than TopK at small
# k on SmolLM2 residuals (FVU 0.165 vs 0.115 at k = 16, layer 10, expansion 64).
#
# Runtime (2 cores, measured under load): smoke seconds; quick ≈ 6 min; full ≈ 9 min (the SAEs
# are cached and reused by Figs. 6, 7, 8 and 17). The `paper` preset (expansion 25, CUDA) is
# not part of `make figures`.

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full | paper (GPU); set by make
seed: int = 0  # seeds the digit split, patches, CNN, document split and every SAE
backbones: list = ["patches", "cnn", "minilm", "smollm2"]  # substitute backbones, one panel each
ks: list = [2, 4, 8, 16, 32]  # training sparsities (paper: 5 values, not listed)
n_train: int = 20000  # training tokens per backbone, at most
n_eval: int = 4000  # held-out tokens per backbone, at most
n_digits: list = [4000, 1000]  # MNIST train / held-out digits behind (a) and (b)
cnn_epochs: int = 12  # epochs of the MNIST CNN behind the "cnn" backbone
lm_tokens: int = 32768  # size of the shared SmolLM2 store (smoke 2048, full 196608)
expansion: int = 4  # latents per dimension on the 64-d backbones (paper: 25)
expansion_lm: int = 2  # latents per dimension on the 384/576-d backbones (paper: 25)
n_steps: int = 500  # training steps per SAE, 64-d backbones
n_steps_lm: int = 150  # training steps per SAE, 384/576-d backbones
batch_size: int = 256  # tokens per step (paper: 8,000)
lr: float = 2e-3  # peak learning rate, AdamW + cosine (paper: 5e-4; ours: short runs)
device: str = "cpu"  # torch device (paper preset: cuda)

# %%
import matplotlib.pyplot as plt

import mplib
from mplib.experiments.real_sae import (
    COLORS,
    KINDS,
    LABELS,
    SUBSTITUTES,
    TITLES,
    family_sweep,
)
from mplib.plotting import save_figure, use_style
from mplib.results import claim, format_claims

STEM = "fig05_pareto"
params = dict(preset=preset, seed=seed, backbones=backbones, ks=ks, n_train=n_train,
              n_eval=n_eval, n_digits=n_digits, cnn_epochs=cnn_epochs, lm_tokens=lm_tokens, expansion=expansion,
              expansion_lm=expansion_lm, n_steps=n_steps, n_steps_lm=n_steps_lm,
              batch_size=batch_size, lr=lr, device=device)
use_style()
mplib.show_versions()
# one SAE per (backbone, kind, k), trained once and cached (shared by Figs. 5, 6, 7, 8, 17)
sweep = family_sweep(backbones, ks=ks, seed=seed, n_train=n_train, n_eval=n_eval,
                     cnn_epochs=cnn_epochs, lm_tokens=lm_tokens, expansion=expansion,
                     expansion_lm=expansion_lm, n_steps=n_steps, n_steps_lm=n_steps_lm,
                     batch_size=batch_size, lr=lr, device=device, n_digits=n_digits)
sizes = {name: s.sizes() for name, s in sweep.items()}
for name, s in sizes.items():
    print(name, {k: v for k, v in s.items() if k != "substitute"})

# %% [markdown]
# ## R² against realised L0, one panel per backbone
# One point per SAE (one per k); held-out tokens.

# %%
fig, axes = plt.subplots(1, len(sweep), figsize=(3.0 * len(sweep), 2.9), squeeze=False)
table = {}
for ax, (name, s) in zip(axes[0], sweep.items()):
    table[name] = {}
    for kind in KINDS:
        rs = [r for r in s.runs if r.kind == kind]
        if not rs:
            continue
        table[name][kind] = {str(r.k): {key: r.metrics[key] for key in
                                        ("r2", "r2_global", "fvu", "l0", "dead_fraction",
                                         "train_seconds")} for r in rs}
        ax.plot([max(r.metrics["l0"], 0.5) for r in rs], [r.metrics["r2"] for r in rs],
                "o-", ms=3, color=COLORS[kind], label=LABELS[kind])
    ax.set_xscale("log", base=2)
    ax.set_xlabel("L0 (held-out)")
    ax.set_title(f"{TITLES[name]}\nd = {sizes[name]['d']}, p = {sizes[name]['p']}", fontsize=8)
axes[0, 0].set_ylabel("R² (held-out)")
axes[0, -1].legend(fontsize=6, loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The paper's claims, checked on our numbers

# %%
base = [k_ for k_ in KINDS if k_ != "mp"]
wins, total, per_bb = 0, 0, {}
for name, s in sweep.items():
    w = [s.get("mp", k).metrics["r2"] > max(s.get(b, k).metrics["r2"] for b in base) for k in ks]
    per_bb[name] = f"{sum(w)}/{len(w)}"
    wins, total = wins + sum(w), total + len(w)
claims = [
    claim("mp_best_r2_everywhere", "MP-SAE has the higher R² at every sparsity on all four "
          "backbones", paper_value="qualitative (all points)", ours=f"{wins}/{total}",
          verdict=wins == total, partly=wins >= total / 2,
          note="(backbone, k) points where MP-SAE's held-out R² beats every baseline at the "
               "same nominal k; per backbone " + ", ".join(f"{b} {v}" for b, v in
                                                           per_bb.items())),
]
if "smollm2" in sweep:
    s = sweep["smollm2"]
    small = [k for k in ks if k <= 32]
    worse = [k for k in small if s.get("mp", k).metrics["fvu"] > s.get("topk", k).metrics["fvu"]]
    k0 = small[len(small) // 2]
    claims.append(claim(
        "eleutherai_mp_worse_small_k", "EleutherAI replication (3rd party): on SmolLM2 "
        "residual streams MP-SAE has a worse FVU than TopK at small k",
        paper_value="k16: 0.165 (MP) vs 0.115 (TopK), layer 10, expansion 64",
        ours=f"k{k0}: {s.get('mp', k0).metrics['fvu']:.3f} (MP) vs "
             f"{s.get('topk', k0).metrics['fvu']:.3f} (TopK)",
        verdict=len(worse) == len(small), partly=bool(worse),
        note=f"block 15, expansion {s.cfg.expansion}; MP worse at k = {worse or 'none'} of "
             f"{small}; 'reproduced' = the counter-finding holds at every k <= 32"))
    claims.append(claim(
        "eleutherai_dead_latents", "EleutherAI: MP-SAE leaves more dead latents than TopK at "
        "small expansion", paper_value="layer 10, k 64, expansion 16: ≈ 16 % (MP) vs 3 % (SAE)",
        ours=f"{s.get('mp', ks[-1]).metrics['dead_fraction']:.3f} (MP) vs "
             f"{s.get('topk', ks[-1]).metrics['dead_fraction']:.3f} (TopK) at k = {ks[-1]}",
        verdict=s.get("mp", ks[-1]).metrics["dead_fraction"]
        > s.get("topk", ks[-1]).metrics["dead_fraction"],
        note=f"fraction of latents never active on {sizes['smollm2']['n_eval']} held-out "
             "tokens"))
print(format_claims(claims))

# %%
results = {"claims": claims, "r2": table, "backbones": sizes, "ks": ks,
           "seeds": {"sae": seed, "data": seed},
           "expansion_used": {n: s["expansion"] for n, s in sizes.items()},
           "paper_expansion": 25}
save_figure(fig, STEM, preset=preset, results=results, params=params, figure="Fig. 5",
            paper="Costa et al. 2025 (MP-SAE)",
            substitute="; ".join(SUBSTITUTES[b] for b in backbones))

# %% [markdown]
# ## Paper vs ours
# The table printed above (and `claims` in the JSON) lists each claim with the paper's
# statement, our number and the verdict.
