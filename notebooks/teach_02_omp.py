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
# # Teaching 2 — orthogonal matching pursuit: orthogonal residuals, phase transitions, and when recovery is guaranteed
#
# The second notebook of mplib's course on sparse coding (after `teach_01_sparse_coding`).
#
# **OMP** (Pati, Rezaiifar & Krishnaprasad 1993; Davis, Mallat & Avellaneda 1997) chooses atoms
# as MP does, by the largest `|⟨r, d_j⟩|`, but after each choice it refits *all* chosen atoms
# by least squares: with `S` the chosen set and `D_S` their rows,
# `z_S = argmin ‖x − z_S D_S‖²` and `r = x − z_S D_S`. The residual is then orthogonal to every
# chosen atom, so OMP never picks an atom twice and, after `k` steps on a `k`-sparse signal,
# it either has the exact support and a zero residual, or has made a wrong choice.
#
# **Recovery.** Take a random `m × N` Gaussian matrix (here: `N` atoms of dimension `m`, the
# rows of `D`) and a `k`-sparse code `z`; can OMP find `z` from `x = z D` alone? Donoho and
# Tanner (2009) drew the answer as a *phase transition* in the plane of undersampling
# `δ = m/N` and sparsity `ρ = k/m`: below a curve recovery succeeds almost always, above it
# almost never.
#
# **Guarantees** (Tropp, "Greed is good", IEEE Trans. Inf. Theory 50(10), 2004). For a support
# `S` the *exact recovery coefficient* is `ERC(S) = max_{j ∉ S} ‖D_S^{+ᵀ} d_j‖₁`, i.e. for each
# atom outside `S` the ℓ1 norm of its least-squares coefficients on the atoms of `S`
# (Thm 3.1: if `ERC(S) < 1`, OMP and MP recover *every* signal supported on `S`). With the
# *mutual coherence* `μ = max_{i≠j} |⟨d_i, d_j⟩|`, `ERC(S) < 1` holds for every `|S| = k` with
# `k < (1 + 1/μ)/2` (Tropp's Cor. 3.6); a sufficient condition, far from necessary.
#
# **What to look at:** (A) the largest correlation of the residual with the chosen atoms: 0 for
# OMP, not for MP; (B) the phase transition of OMP; (C) ERC of random supports against OMP's
# success on them: every support with ERC < 1 succeeds; (D) how the share of supports with
# ERC < 1 falls with k, and how much earlier the coherence bound gives up.
#
# Data: synthetic, exact (no substitute). Runtime (2 cores): smoke seconds, quick ≈ 15 s.
# In JupyterLab (`make lab`) the sliders under panel B try one (m, k) cell; set
# `solutions = True` in the parameters cell to see the exercises' answers.

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # the only source of randomness
solutions: bool = False  # run the exercises' solutions (False: the skeletons a student fills in)
n_features: int = 32  # signal dimension in panel A
n_atoms: int = 64  # dictionary size in panel A
n_active: int = 6  # atoms per signal in panel A
n_signals: int = 200  # signals in panel A
pt_atoms: int = 100  # N of the phase transition (panel B)
pt_deltas: list = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]  # undersampling grid, delta is m/N
pt_rhos: list = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9]  # sparsity grid, rho is k/m
pt_trials: int = 40  # signals per (δ, ρ) cell
erc_features: int = 24  # signal dimension of the ERC experiment (panels C, D)
erc_atoms: int = 40  # dictionary size of the ERC experiment
erc_sparsities: list = [1, 2, 3, 4, 5, 6, 7, 8]  # support sizes k tried
erc_supports: int = 60  # random supports per k
erc_draws: int = 20  # random coefficient vectors per support

# %%
import matplotlib.pyplot as plt
import numpy as np

import mplib
from mplib.metrics import babel
from mplib.plotting import save_figure, use_style
from mplib.pursuit import sparse_encode
from mplib.repro import numpy_generator
from mplib.results import claim, format_claims
from mplib.teaching import Slider, check, explore

STEM = "teach_02_omp"
params = dict(preset=preset, seed=seed, solutions=solutions, n_features=n_features,
              n_atoms=n_atoms, n_active=n_active, n_signals=n_signals, pt_atoms=pt_atoms,
              pt_deltas=pt_deltas, pt_rhos=pt_rhos, pt_trials=pt_trials,
              erc_features=erc_features, erc_atoms=erc_atoms, erc_sparsities=erc_sparsities,
              erc_supports=erc_supports, erc_draws=erc_draws)
use_style()
mplib.show_versions()
rng = numpy_generator(seed)


def unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def sparse_codes(n, N, k, rng):
    """n codes with k non-zeros each: random support, signs and magnitudes in [1, 2]."""
    Z = np.zeros((n, N))
    for z in Z:
        z[rng.choice(N, k, replace=False)] = rng.choice([-1, 1], k) * rng.uniform(1, 2, k)
    return Z


def recovered(Z_hat, Z):
    """Exact recovery per signal: relative code error below 1e-6."""
    return np.linalg.norm(Z_hat - Z, axis=1) <= 1e-6 * np.linalg.norm(Z, axis=1)


def erc(D, S):
    """Tropp's exact recovery coefficient of support S: max over j ∉ S of ‖pinv(D_S)ᵀ d_j‖₁."""
    out = np.setdiff1d(np.arange(len(D)), S)
    return float(np.abs(D[out] @ np.linalg.pinv(D[S])).sum(1).max())


fig = plt.figure(figsize=(7.0, 5.0), layout="constrained")
axd = fig.subplot_mosaic([["orth", "pt"], ["erc", "share"]])
plt.close(fig)  # filled panel by panel below and shown once, complete, at the end

# %% [markdown]
# ## A — OMP's residual is orthogonal to the chosen atoms
# `n_signals` signals with `n_active` atoms each on a random dictionary. After step `t`,
# the largest `|⟨r_t, d_j⟩|` over the atoms `j` chosen so far (median over the signals, relative
# to `‖x‖`): machine precision for OMP, of the order of the residual for MP (after its first
# step MP's residual is orthogonal to its one atom too; later steps undo that).

# %%
D = unit_rows(rng.standard_normal((n_atoms, n_features)))
Z = sparse_codes(n_signals, n_atoms, n_active, rng)
X = Z @ D
orth = {}
for algo in ("mp", "omp"):
    path = sparse_encode(X, D, algorithm=algo, n_nonzero_coefs=n_active, return_path=True).path
    R = X[None] - path @ D  # (t, n, d)
    corr = np.abs(R @ D.T) * (path != 0)  # only the chosen atoms
    orth[algo.upper()] = np.median(corr.max(-1) / np.linalg.norm(X, axis=1), axis=1)
    axd["orth"].semilogy(np.arange(1, n_active + 1), np.maximum(orth[algo.upper()], 1e-17),
                         "o-", label=algo.upper())
axd["orth"].set(xlabel="step $t$", ylabel=r"max$_{j\in S_t}|\langle r_t, d_j\rangle| / \|x\|$",
                title="A  residual vs chosen atoms")
axd["orth"].legend()
omp_exact = float(recovered(sparse_encode(X, D, n_nonzero_coefs=n_active).codes, Z).mean())
mp_exact = float(recovered(sparse_encode(X, D, algorithm="mp", n_nonzero_coefs=n_active).codes, Z).mean())
print(f"after {n_active} steps: OMP {orth['OMP'][-1]:.1e}, MP {orth['MP'][-1]:.1e}; "
      f"exact recovery OMP {omp_exact:.0%}, MP {mp_exact:.0%}")

# %% [markdown]
# ## B — the phase transition of OMP
# For each undersampling `δ = m/N` and sparsity `ρ = k/m` (`N = pt_atoms`,
# `k = max(1, round(ρ m))`): one random dictionary of `N` unit atoms in `ℝᵐ`, `pt_trials`
# random `k`-sparse codes, OMP with `k` steps; colour = share recovered exactly (relative code
# error ≤ 1e-6). The white line is the 50 % contour. With the sliders (JupyterLab) pick one
# `(m, k)` and compare OMP with MP.

# %%
success = np.zeros((len(pt_rhos), len(pt_deltas)))
for j, delta in enumerate(pt_deltas):
    m = max(1, round(delta * pt_atoms))
    Dm = unit_rows(rng.standard_normal((pt_atoms, m)))
    for i, rho in enumerate(pt_rhos):
        k = min(m, max(1, round(rho * m)))
        Zm = sparse_codes(pt_trials, pt_atoms, k, rng)
        success[i, j] = recovered(sparse_encode(Zm @ Dm, Dm, n_nonzero_coefs=k).codes, Zm).mean()
ax = axd["pt"]
im = ax.imshow(success, origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1,
               extent=(pt_deltas[0] - 0.05, pt_deltas[-1] + 0.05, -0.5, len(pt_rhos) - 0.5))
ax.contour(pt_deltas, np.arange(len(pt_rhos)), success, levels=[0.5], colors="w", linewidths=1)
ax.set_yticks(range(len(pt_rhos))[::2], [f"{r:g}" for r in pt_rhos[::2]])
ax.set(xlabel=r"undersampling $\delta = m/N$", ylabel=r"sparsity $\rho = k/m$",
       title=f"B  OMP phase transition (N = {pt_atoms})")
fig.colorbar(im, ax=ax, label="recovered", shrink=0.8)
print("share recovered (rows ρ, columns δ):\n", np.round(success, 2))


def try_cell(m=50, k=10, trials=40):
    k = min(k, m)  # an orthogonal pursuit cannot choose more than m atoms
    Dm = unit_rows(numpy_generator(seed).standard_normal((pt_atoms, m)))
    Zm = sparse_codes(trials, pt_atoms, k, numpy_generator(seed + 1))
    rates = {a: recovered(sparse_encode(Zm @ Dm, Dm, algorithm=a, n_nonzero_coefs=k).codes, Zm).mean()
             for a in ("omp", "mp")}
    print(f"m = {m}, k = {k}: OMP recovers {rates['omp']:.0%}, MP (k steps) {rates['mp']:.0%}")
    return rates


m0 = pt_atoms // 2
cell_rates = explore(try_cell, m=Slider(m0, 2, pt_atoms), k=Slider(max(1, m0 // 5), 1, m0),
                     trials=pt_trials)

# %% [markdown]
# ## C — the exact recovery condition, checked numerically
# A random dictionary of `erc_atoms` unit atoms in `ℝ^erc_features`; for each `k` in
# `erc_sparsities`, `erc_supports` random supports `S`. For each support: `ERC(S)` (x axis)
# and the share of `erc_draws` random coefficient vectors on `S` that OMP recovers exactly
# (y axis). Tropp's theorem predicts: left of the dashed line (ERC < 1) every point sits at 1.
# Right of it recovery may still succeed: the condition is sufficient, not necessary (it
# covers the worst coefficients, and random ones are rarely the worst).

# %%
De = unit_rows(rng.standard_normal((erc_atoms, erc_features)))
mu = float(babel(De, r_max=1)[0])
k_coherence = int(np.ceil((1 + 1 / mu) / 2) - 1)  # largest k with k < (1 + 1/μ)/2
rows = []
for k in erc_sparsities:
    for _ in range(erc_supports):
        S = np.sort(rng.choice(erc_atoms, k, replace=False))
        Zs = np.zeros((erc_draws, erc_atoms))
        Zs[:, S] = rng.choice([-1, 1], (erc_draws, k)) * rng.uniform(0.2, 2, (erc_draws, k))
        ok = recovered(sparse_encode(Zs @ De, De, n_nonzero_coefs=k).codes, Zs).mean()
        rows.append((k, erc(De, S), ok))
ks, ercs, oks = (np.array(c) for c in zip(*rows))
ax = axd["erc"]
sc = ax.scatter(ercs, oks + rng.uniform(-0.015, 0.015, len(oks)), c=ks, s=6, cmap="plasma")
ax.axvline(1, color="0.3", ls="--", lw=0.8)
ax.set(xscale="log", xlabel="ERC(S)  (log)", ylabel="OMP recovers (share of draws)",
       title="C  ERC < 1 ⇒ exact recovery")
ax.set_xticks([0.3, 1, 3, 10], ["0.3", "1", "3", "10"])
ax.xaxis.set_minor_formatter(plt.NullFormatter())
fig.colorbar(sc, ax=ax, label="k = |S|", shrink=0.8)
guaranteed = ercs < 1
print(f"μ = {mu:.3f}: the coherence bound covers k ≤ {k_coherence}; "
      f"{guaranteed.sum()} of {len(ercs)} supports have ERC < 1, OMP recovers all their draws: "
      f"{bool(oks[guaranteed].min() == 1.0) if guaranteed.any() else 'n/a'}; supports with ERC ≥ 1: "
      f"mean recovery {oks[~guaranteed].mean() if (~guaranteed).any() else float('nan'):.2f}")

# %% [markdown]
# ## D — how far the guarantees reach
# Per `k`: the share of random supports with ERC < 1 (guaranteed by Tropp's theorem), the
# share of (support, draw) pairs OMP actually recovers, and the coherence bound's reach
# `k < (1 + 1/μ)/2` (dotted line; every support of that size or smaller has ERC < 1).

# %%
share_erc = np.array([guaranteed[ks == k].mean() for k in erc_sparsities])
share_ok = np.array([oks[ks == k].mean() for k in erc_sparsities])
ax = axd["share"]
ax.plot(erc_sparsities, share_erc, "o-", label="supports with ERC < 1")
ax.plot(erc_sparsities, share_ok, "s-", label="OMP recovers")
ax.axvline(k_coherence + 0.5, color="0.4", ls=":", lw=1, label=f"coherence bound (μ = {mu:.2f})")
ax.set(xlabel="k = |S|", ylabel="share", ylim=(-0.03, 1.03), title="D  guarantee vs practice")
ax.legend(fontsize=6)
fig

# %% [markdown]
# ## Claims, checked on this run's numbers
# What theory says ("paper value") against this run.

# %%
pt_low = float(success[0, -1])  # smallest ρ at δ = 1
pt_high = float(success[-1, 0])  # largest ρ at the smallest δ
claims = [
    claim("omp_orthogonal", "OMP's residual is orthogonal to every chosen atom",
          paper_value=0.0, ours=float(orth["OMP"].max()), verdict=bool(orth["OMP"].max() < 1e-10),
          note="largest median max_j∈S |⟨r_t, d_j⟩| / ‖x‖ over the steps of panel A (threshold 1e-10)"),
    claim("mp_not_orthogonal", "MP's residual is not orthogonal to the atoms it chose",
          paper_value="> 0", ours=float(orth["MP"][-1]), verdict=bool(orth["MP"][-1] > 1e-3),
          note="median after the last step of panel A (threshold 1e-3)"),
    claim("phase_transition", "OMP recovers sparse codes from few measurements and fails on "
          "dense ones (a phase transition in δ, ρ)", paper_value="≈1 → ≈0",
          ours=f"{pt_low:.2f} → {pt_high:.2f}", verdict=bool(pt_low >= 0.9 and pt_high <= 0.1),
          note="share recovered at (δ = 1, smallest ρ) and (smallest δ, largest ρ) (thresholds 0.9, 0.1)"),
    claim("erc_sufficient", "Tropp 2004, Thm 3.1: ERC(S) < 1 ⇒ OMP recovers every signal on S",
          paper_value=1.0, ours=float(oks[guaranteed].min()) if guaranteed.any() else None,
          verdict=bool(oks[guaranteed].min() == 1.0) if guaranteed.any() else None,
          note=f"smallest recovery share over the {int(guaranteed.sum())} supports with ERC < 1"),
    claim("coherence_bound", "Tropp 2004, Cor. 3.6: every support with k < (1 + 1/μ)/2 has "
          "ERC < 1", paper_value="ERC < 1",
          ours=float(ercs[ks <= k_coherence].max()) if (ks <= k_coherence).any() else None,
          verdict=bool(ercs[ks <= k_coherence].max() < 1) if (ks <= k_coherence).any() else None,
          note=f"largest ERC over the sampled supports with k ≤ {k_coherence} (μ = {mu:.3f}); "
               "not testable when no sampled k is that small"),
]
print(format_claims(claims))

# %% [markdown]
# ## Save the figure and its numbers

# %%
results = {
    "orthogonality_median": {k: v.tolist() for k, v in orth.items()},
    "exact_recovery_panel_a": {"omp": omp_exact, "mp": mp_exact},
    "phase_transition": {"deltas": pt_deltas, "rhos": pt_rhos, "success": success.tolist()},
    "erc": {"coherence": mu, "k_coherence_bound": k_coherence, "k": ks.tolist(),
            "erc": ercs.tolist(), "recovered": oks.tolist(),
            "share_erc_below_1": share_erc.tolist(), "share_recovered": share_ok.tolist()},
    "claims": claims,
}
save_figure(fig, STEM, preset=preset, results=results, params=params, figure="teaching 2",
            paper="Teaching notebooks (no paper)")

# %% [markdown]
# ## Exercises
# Fill in each skeleton cell, then run the check under it (`pass` or `not yet: <why>`).
# `solutions = True` in the parameters cell runs the answers.
#
# **1. OMP's refit.** Given the signal `x = X[0]` and the support OMP chose for it, compute
# the least-squares coefficients `z_S` (one per atom of `support`, in its order) minimising
# `‖x − z_S D[support]‖²`. (Hint: `np.linalg.lstsq` with the atoms as columns.)

# %%
x = X[0]
z_omp = sparse_encode(X[:1], D, n_nonzero_coefs=n_active).codes[0]
support = np.flatnonzero(z_omp)

# %% tags=["exercise-skeleton"]
z_support = None  # your code: an array of len(support)

# %% tags=["exercise-solution"]
if solutions:
    z_support = np.linalg.lstsq(D[support].T, x, rcond=None)[0]

# %% tags=["exercise-check"]
check("omp_refit", z_support, z_omp[support], atol=1e-8, hint="solve D[support].T @ z = x")

# %% [markdown]
# **2. Mutual coherence.** Compute `μ` of the ERC dictionary `De`: the largest `|⟨d_i, d_j⟩|`
# over pairs `i ≠ j` (its rows are unit vectors).

# %% tags=["exercise-skeleton"]
coherence = None  # your code: a float

# %% tags=["exercise-solution"]
if solutions:
    G = np.abs(De @ De.T)
    np.fill_diagonal(G, 0)
    coherence = float(G.max())

# %% tags=["exercise-check"]
check("coherence", coherence, mu, atol=1e-10, hint="the Gram matrix De @ De.T, without its diagonal")

# %% [markdown]
# **3. The exact recovery coefficient.** Write `my_erc(D, S)`: for every atom `j` outside `S`,
# solve for its least-squares coefficients on the atoms of `S` and take their ℓ1 norm; return
# the largest. Then check it on the support `[0, 1, 2]` of `De`.

# %% tags=["exercise-skeleton"]
def my_erc(D, S):
    """Tropp's ERC of support S (a list of atom indices) for the dictionary D (atoms as rows)."""
    raise NotImplementedError("your code here")


# %% tags=["exercise-solution"]
if solutions:
    def my_erc(D, S):
        """Tropp's ERC of support S (a list of atom indices) for the dictionary D (atoms as rows)."""
        others = [j for j in range(len(D)) if j not in S]
        coefs = np.linalg.lstsq(D[S].T, D[others].T, rcond=None)[0]  # (|S|, n_others)
        return float(np.abs(coefs).sum(0).max())

# %% tags=["exercise-check"]
check("erc", lambda: my_erc(De, [0, 1, 2]), erc(De, np.array([0, 1, 2])), atol=1e-8,
      hint="np.linalg.lstsq(D[S].T, D[others].T) gives every atom's coefficients at once")
