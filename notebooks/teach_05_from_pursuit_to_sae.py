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
# # Teaching 5 — from pursuit to sparse autoencoders: unrolling MP into MP-SAE, and absorption
#
# The last notebook of mplib's course on sparse coding (after `teach_04_dictionary_learning`).
#
# **A sparse autoencoder** (SAE) learns a dictionary `D` (rows = atoms) and an encoder that
# maps a signal `x` to a sparse code `z`, trained to reconstruct, `x̂ = z D`, by gradient
# descent on `‖x − x̂‖²`. A standard SAE's encoder is one layer, `z = σ(W x + b)` (ReLU, TopK,
# …). **MP-SAE** (Costa et al., "From Flat to Hierarchical: extracting sparse representations
# with matching pursuit", 2025, § 3) instead *unrolls matching pursuit* as the encoder: `k`
# steps of `c = D r`, `j = argmax c`, `z_j += c_j`, `r −= c_j d_j`, with the same `D` as the
# decoder. Each step is a layer whose input is the residual of the previous one; gradients
# flow through the selected coefficients and residual updates to `D`.
#
# **Absorption.** On data with a hierarchy (a parent concept that is present whenever one of
# its children is), a one-layer SAE tends to learn child atoms that also contain the parent's
# direction (the child's latent "absorbs" the parent, which then need not fire): one fewer
# active latent, so sparser codes. The paper's absorption score is the cosine between each
# learned child atom and its parent's true direction (its Table 1; our definition: the
# magnitude `|cos|`, after Hungarian matching of atoms to features). MP avoids it because of
# the residual: once the parent's atom is chosen, its component is *subtracted* from `r`, so
# the next step sees only what the parent did not explain and the child atom has no reason
# to carry the parent's direction.
#
# **What to look at:** (A) the MP-SAE encoder with `k` steps is MP itself (same codes as
# `mplib.pursuit`), and a trained dictionary explains the toy data in fewer steps than a
# random one; (B) the absorption cosine of each child, per SAE; (C) the aligned Gram matrix
# `D̂ D̂ᵀ` of a standard SAE and of MP-SAE: off-diagonal parent–child blocks = absorption.
#
# Data: the synthetic hierarchy of the MP-SAE paper (`mplib.datasets`, 20 features, exact;
# no substitute); tiny SAEs trained here with the toy recipe (`mplib.sae`, runs cached under
# `data/`). Runtime (2 cores): smoke seconds, quick ≈ 40 s on a fresh cache. In JupyterLab
# (`make lab`) the slider under panel A changes the number of unrolled steps; `solutions =
# True` in the parameters cell runs the exercises' answers.

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # seeds the data and the SAEs
solutions: bool = False  # run the exercises' solutions (False: the skeletons a student fills in)
saes: list = ["vanilla", "batchtopk", "mp"]  # SAEs trained on the toy (ReLU, BatchTopK, MP-SAE)
n_steps: int = 2000  # training steps per SAE (the paper's toy recipe: 15000)
max_unroll: int = 8  # largest number of unrolled MP steps in panel A
n_samples: int = 2000  # toy samples for panel A

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import mplib
from mplib.datasets import ToySpec, hierarchical_toy
from mplib.experiments import SAE_LABELS, ToyRun, evaluate_toy_run, train_toy_runs
from mplib.plotting import gram_heatmap, save_figure, use_style
from mplib.pursuit import sparse_encode
from mplib.results import claim, format_claims
from mplib.sae import MPSAE, TrainConfig
from mplib.teaching import Slider, check, explore

STEM = "teach_05_from_pursuit_to_sae"
params = dict(preset=preset, seed=seed, solutions=solutions, saes=saes, n_steps=n_steps,
              max_unroll=max_unroll, n_samples=n_samples)
use_style()
mplib.show_versions()
spec = ToySpec("mpsae")
cfg = TrainConfig(n_steps=n_steps, progress=False)

fig = plt.figure(figsize=(7.0, 4.8), layout="constrained")
axd = fig.subplot_mosaic([["unroll", "absorb", "absorb"], ["gram0", "gram1", "gram2"]])
plt.close(fig)  # filled panel by panel below and shown once, complete, at the end

# %% [markdown]
# ## Train the tiny SAEs (or load them from the run cache)
# One run per SAE on the toy hierarchy (within-level cosine 0.1, the paper's default), the toy
# recipe of `mplib.sae.TrainConfig` with `n_steps` steps; then each is matched to the 20
# ground-truth features and scored (`mplib.experiments.evaluate_toy_run`).

# %%
runs = [ToyRun(sae, spec, seed) for sae in saes]
models = train_toy_runs(runs, cfg)
scores = {r.sae: evaluate_toy_run(m, r) for m, r in zip(models, runs)}
for sae, sc in scores.items():
    print(f"{SAE_LABELS[sae]:>10}: L0 {sc.l0:.2f}, FVU {sc.fvu:.3f}, mean |cos(child atom, parent)| "
          f"{np.abs(sc.parent_cosine).mean():.3f}")

# %% [markdown]
# ## A — the encoder is matching pursuit, unrolled
# The trained MP-SAE's encoder against `mplib.pursuit.sparse_encode(algorithm="mp")` on its
# own dictionary: identical codes (printed). The curve: relative residual energy of toy samples
# after `k` unrolled steps (`model.encode(x, k=k)`), with the trained dictionary and with a
# random one of the same size: training makes every step count. With the slider (JupyterLab)
# look at one sample's code for a chosen `k`.

# %%
mp_model = models[saes.index("mp")] if "mp" in saes else None
toy = hierarchical_toy(n_samples, seed=seed)  # codes of the toy; directions of the runs
X = torch.as_tensor(toy.codes @ scores[saes[0]].features, dtype=torch.float32)
random_sae = MPSAE(X.shape[1], X.shape[1], k=1, threshold=None, stop_on_unchanged_support=False,
                   seed=seed + 1)
unroll = {}
with torch.no_grad():
    for name, model in (("trained MP-SAE", mp_model), ("random dictionary", random_sae)):
        if model is None:
            continue
        D = model.dictionary
        unroll[name] = [float(((X - model.encode(X, k=k) @ D) ** 2).sum() / (X**2).sum())
                        for k in range(1, max_unroll + 1)]
        axd["unroll"].semilogy(range(1, max_unroll + 1), unroll[name], "o-", ms=3, label=name)
axd["unroll"].set(xlabel="unrolled steps $k$", ylabel=r"$\sum\|r\|^2 / \sum\|x\|^2$",
                  title="A  MP-SAE = unrolled MP")
axd["unroll"].legend(fontsize=6)
same_as_mp = None
if mp_model is not None:
    with torch.no_grad():
        mp64 = MPSAE(X.shape[1], X.shape[1], k=3, threshold=None, stop_on_unchanged_support=False,
                    selection="abs", coefficient="projection", dtype=torch.float64)
        mp64.W.copy_(mp_model.dictionary.double() / mp_model.dictionary.double().norm(dim=1, keepdim=True))
        Xd = X.double()
        same_as_mp = float((mp64.encode(Xd) - torch.as_tensor(
            sparse_encode(Xd.numpy(), mp64.dictionary.numpy(), algorithm="mp", n_nonzero_coefs=3).codes)).abs().max())
    print(f"MP-SAE encoder (3 steps, |c| selection, unit atoms) vs sparse_encode MP: max |Δz| = {same_as_mp:.1e}")


def one_code(k=3, sample=0):
    with torch.no_grad():
        z = mp_model.encode(X[sample : sample + 1], k=k)[0].numpy()
    print(f"sample {sample}, {k} steps: active latents {np.flatnonzero(z).tolist()}, "
          f"true features {np.flatnonzero(toy_codes[sample]).tolist()} (latents are not aligned)")
    return z


toy_codes = toy.codes
if mp_model is not None:
    explore(one_code, k=Slider(3, 1, max_unroll), sample=Slider(0, 0, 20))

# %% [markdown]
# ## B — absorption, child by child
# For each of the 9 child features: `|cos(learned child atom, true parent direction)|` (0: the
# child atom carries none of its parent; 1: it is the parent). Lower is better.

# %%
width = 0.8 / len(saes)
for i, sae in enumerate(saes):
    pc = np.abs(scores[sae].parent_cosine)
    axd["absorb"].bar(np.arange(len(pc)) + (i - (len(saes) - 1) / 2) * width, pc, width,
                      label=f"{SAE_LABELS[sae]} (mean {pc.mean():.2f})")
axd["absorb"].set(xlabel="child feature", ylabel="|cos(child atom, parent)|",
                  title="B  absorption per child (lower is better)")
axd["absorb"].legend(fontsize=6)

# %% [markdown]
# ## C — the aligned Gram matrices
# `D̂ D̂ᵀ` of the matched, unit-norm atoms (rows and columns in the features' order: the
# parents first, then their children). Away from the diagonal, a coloured block between a
# parent and its children means the child atoms share the parent's direction.

# %%
for ax, sae in zip([axd["gram0"], axd["gram1"], axd["gram2"]], saes):
    gram_heatmap(ax, scores[sae].gram, title=f"C  {SAE_LABELS[sae]}")
fig

# %% [markdown]
# ## Claims, checked on this run's numbers
# The paper's claims (Costa et al. 2025: Fig. 4 and Table 1) on this small run.

# %%
absorb = {sae: float(np.abs(sc.parent_cosine).mean()) for sae, sc in scores.items()}
others = [s for s in saes if s != "mp"]
claims = [
    claim("encoder_is_mp", "the MP-SAE encoder is matching pursuit unrolled (same codes)",
          paper_value=0.0, ours=same_as_mp, verdict=None if same_as_mp is None else bool(same_as_mp < 1e-10),
          note="max |Δz| between the MP-SAE encoder and sparse_encode's MP, float64, 3 steps"),
    claim("mp_absorbs_least", "MP-SAE's child atoms point least at their parents (least absorption)",
          paper_value="MP-SAE lowest", ours=absorb.get("mp"),
          verdict=None if "mp" not in absorb or not others else bool(absorb["mp"] < min(absorb[s] for s in others)),
          note="mean |cos(child atom, parent)| over the 9 children, one run per SAE; "
               + ", ".join(f"{SAE_LABELS[s]} {v:.3f}" for s, v in absorb.items())),
    claim("training_helps", "a trained dictionary explains the data in fewer steps than a random one",
          paper_value="trained < random", ours=unroll.get("trained MP-SAE", [None])[-1],
          verdict=None if "trained MP-SAE" not in unroll else bool(unroll["trained MP-SAE"][-1] < unroll["random dictionary"][-1]),
          note=f"relative residual energy after {max_unroll} steps"),
]
print(format_claims(claims))

# %% [markdown]
# ## Save the figure and its numbers

# %%
results = {
    "unroll_relative_energy": unroll,
    "encoder_vs_mp_max_abs_diff": same_as_mp,
    "absorption_mean_abs_cos": absorb,
    "parent_cosine": {sae: sc.parent_cosine.tolist() for sae, sc in scores.items()},
    "scores": {sae: sc.summary() for sae, sc in scores.items()},
    "claims": claims,
}
save_figure(fig, STEM, preset=preset, results=results, params=params, figure="teaching 5",
            paper="Costa et al. 2025 (MP-SAE), teaching notebook")

# %% [markdown]
# ## Exercises
# Fill in each skeleton cell, then run the check under it (`pass` or `not yet: <why>`).
# `solutions = True` in the parameters cell runs the answers.
#
# **1. Unroll MP yourself.** Write `mp_encode(X, D, k)` in numpy: `k` matching-pursuit steps
# for every row of `X` at once (selection by the largest `|c_j|`, unit atoms `D`), returning
# the codes `(n, N)`. The check compares with the MP-SAE encoder of `mplib.sae` on 50 samples.

# %%
D_unit = (mp64.dictionary.detach().numpy() if mp_model is not None
          else np.linalg.qr(np.random.default_rng(seed).standard_normal((20, 20)))[0])
X50 = X[:50].double().numpy()
with torch.no_grad():
    expected_codes = MPSAE(20, 20, k=4, threshold=None, stop_on_unchanged_support=False,
                           selection="abs", coefficient="projection",
                           dtype=torch.float64).requires_grad_(False)
    expected_codes.W.copy_(torch.as_tensor(D_unit))
    expected_codes = expected_codes.encode(torch.as_tensor(X50)).numpy()

# %% tags=["exercise-skeleton"]
def mp_encode(X, D, k):
    """Codes (n, N) after k MP steps on every row of X (rows of D: unit atoms)."""
    raise NotImplementedError("your code here")


# %% tags=["exercise-solution"]
if solutions:
    def mp_encode(X, D, k):
        """Codes (n, N) after k MP steps on every row of X (rows of D: unit atoms)."""
        R, Z = X.copy(), np.zeros((len(X), len(D)))
        rows = np.arange(len(X))
        for _ in range(k):
            C = R @ D.T
            j = np.abs(C).argmax(1)
            a = C[rows, j]
            Z[rows, j] += a
            R -= a[:, None] * D[j]
        return Z

# %% tags=["exercise-check"]
check("mp_encode", lambda: mp_encode(X50, D_unit, 4), expected_codes, atol=1e-8,
      hint="C = R @ D.T; j = argmax |C| per row; add C[row, j] to Z and subtract it times D[j] from R")

# %% [markdown]
# **2. Measure absorption.** For the standard SAE `saes[0]`, its matched unit atoms
# `scores[saes[0]].atoms` (row `i` ↔ feature `i`) and true directions `.features`: compute, for
# each child feature `c` (a feature whose parent `spec.tree.parents[c]` is not -1, in
# increasing order), the cosine between atom `c` and the parent's direction. The check
# compares with the cosines `evaluate_toy_run` reports.

# %% tags=["exercise-skeleton"]
child_parent_cos = None  # your code: an array with one cosine per child

# %% tags=["exercise-solution"]
if solutions:
    sc0 = scores[saes[0]]
    parents = np.asarray(spec.tree.parents)
    kids = np.flatnonzero(parents >= 0)
    F = sc0.features / np.linalg.norm(sc0.features, axis=1, keepdims=True)
    A = sc0.atoms / np.linalg.norm(sc0.atoms, axis=1, keepdims=True)
    child_parent_cos = (A[kids] * F[parents[kids]]).sum(1)

# %% tags=["exercise-check"]
check("absorption", child_parent_cos, scores[saes[0]].parent_cosine, atol=1e-5,
      hint="normalise rows, then the dot product of atoms[c] with features[parents[c]]")
