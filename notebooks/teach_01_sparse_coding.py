# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: mplib (.venv)
#     language: python
#     name: mplib
# ---

# %% [markdown]
# # Teaching 1 — sparse coding: signals, dictionaries, and matching pursuit by hand
#
# The first notebook of mplib's course on sparse coding (the path: 1 sparse coding, 2 OMP,
# 3 gradient pursuit, 4 dictionary learning, 5 from pursuit to sparse autoencoders).
#
# **Sparse coding.** A *signal* is a vector `x ∈ ℝᵈ`. A *dictionary* is a list of `N` unit
# vectors, the *atoms* `d_1, …, d_N`, stacked as the rows of `D` (shape `N × d`; often
# `N > d`, an *overcomplete* dictionary). A *code* `z ∈ ℝᴺ` describes `x ≈ z D = Σ_j z_j d_j`;
# it is *sparse* when few entries are non-zero, counted by `‖z‖₀`. Sparse coding asks for the
# best approximation with at most `k` atoms, `min ‖x − z D‖² subject to ‖z‖₀ ≤ k`, a
# combinatorial problem (NP-hard in general), so one solves it greedily.
#
# **Matching pursuit** (Mallat & Zhang, IEEE TSP 41(12), 1993). Start from the residual
# `r_0 = x`; at step `t`:
# 1. correlate the residual with every atom, `c = D r_{t−1}`;
# 2. choose the atom with the largest `|c_j|`;
# 3. move along it only: `z_j += c_j`, `r_t = r_{t−1} − c_j d_j`.
#
# With unit atoms, step 3 removes the projection of the residual on `d_j`, so `r_t ⟂ d_j` and
# `‖r_t‖² = ‖r_{t−1}‖² − c_j²` (energy goes into the code, none is lost). It does *not* keep
# `r_t` orthogonal to the atoms chosen earlier: a later step can bring back a component along
# them and MP picks the same atom again (OMP, notebook 2, fixes that).
#
# **What to look at:** (A) a sparse signal built from a few atoms; (B) MP on 3 atoms in the
# plane, step by step, zigzagging; (C) the same in 3-D; (D) the residual energy per step and
# how often each atom is picked.
#
# Data: synthetic, exact (no substitute). Runtime (2 cores): smoke and quick a few seconds.
# In JupyterLab (`make lab`) the sliders of panels B and D redraw them; set `solutions = True`
# in the parameters cell to see the exercises' answers.

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # the only source of randomness (dictionaries, codes)
solutions: bool = False  # run the exercises' solutions (False: the skeletons a student fills in)
angles: list = [0, 60, 110]  # directions of the three unit atoms in the plane (panel B), degrees
signal_angle: float = 85  # direction of the unit 2-D signal, degrees
n_steps_2d: int = 6  # MP steps drawn in panel B
n_atoms_3d: int = 5  # random unit atoms in 3-D (panel C)
n_steps_3d: int = 4  # MP steps drawn in panel C
n_features: int = 32  # signal dimension d of panels A and D
n_atoms: int = 64  # dictionary size N of panels A and D
n_active: int = 4  # atoms in each synthetic sparse signal
n_signals: int = 200  # signals behind panel D
n_steps: int = 24  # MP steps in panel D

# %%
import matplotlib.pyplot as plt
import numpy as np

import mplib
from mplib.plotting import residual_decay, save_figure, use_style
from mplib.pursuit import sparse_encode
from mplib.repro import numpy_generator
from mplib.results import claim, format_claims
from mplib.teaching import Slider, check, draw_steps, explore, pursuit_trace

STEM = "teach_01_sparse_coding"
params = dict(preset=preset, seed=seed, solutions=solutions, angles=angles,
              signal_angle=signal_angle, n_steps_2d=n_steps_2d, n_atoms_3d=n_atoms_3d,
              n_steps_3d=n_steps_3d, n_features=n_features, n_atoms=n_atoms,
              n_active=n_active, n_signals=n_signals, n_steps=n_steps)
use_style()
mplib.show_versions()
rng = numpy_generator(seed)


def unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def planar(degrees):
    rad = np.radians(np.atleast_1d(degrees))
    return np.stack([np.cos(rad), np.sin(rad)], 1)


fig = plt.figure(figsize=(7.0, 4.8), layout="constrained")
ax_a = fig.add_subplot(2, 3, 1)
ax_b = fig.add_subplot(2, 3, 2)
ax_c = fig.add_subplot(2, 3, 3, projection="3d")
ax_d = fig.add_subplot(2, 3, (4, 5))
ax_e = fig.add_subplot(2, 3, 6)
plt.close(fig)  # filled panel by panel below and shown once, complete, at the end

# %% [markdown]
# ## A — a sparse signal
# A random dictionary of `n_atoms` unit atoms in `ℝ^n_features` and a signal made of
# `n_active` of them. Bars: the code `z` (non-zero on `n_active` atoms) and what OMP recovers
# from `x` alone with the same budget (notebook 2 says when that is exact).

# %%
D = unit_rows(rng.standard_normal((n_atoms, n_features)))
Z = np.zeros((n_signals, n_atoms))
for z in Z:
    z[rng.choice(n_atoms, n_active, replace=False)] = rng.choice([-1, 1], n_active) * rng.uniform(1, 2, n_active)
X = Z @ D
z_omp = sparse_encode(X[:1], D, algorithm="omp", n_nonzero_coefs=n_active).codes[0]
support = np.flatnonzero(Z[0])
ax_a.axhline(0, color="0.7", lw=0.8)
ax_a.vlines(support, 0, Z[0, support], color="C0", lw=1.5)
ax_a.plot(support, Z[0, support], "o", color="C0", ms=5, label="true $z$ (non-zeros)")
ax_a.plot(np.flatnonzero(z_omp), z_omp[z_omp != 0], "x", color="C3", ms=6, label="OMP's code")
ax_a.set_xlim(-1, n_atoms)
ax_a.set(xlabel="atom $j$", ylabel="$z_j$", title=f"A  ‖z‖₀ = {n_active} of N = {n_atoms}")
ax_a.legend(fontsize=6)
print(f"‖z‖₀ = {np.count_nonzero(Z[0])}, OMP finds the same support: "
      f"{set(np.flatnonzero(z_omp)) == set(np.flatnonzero(Z[0]))}")

# %% [markdown]
# ## B — matching pursuit in the plane
# Three unit atoms (grey lines, both signs) and a unit signal (black dot). Each coloured arrow
# is one MP step: it moves the residual parallel to the chosen atom (same colour) until it is
# orthogonal to it. With three atoms in two dimensions the residual zigzags towards 0 and
# atoms are chosen again and again. In JupyterLab the sliders change the signal and the
# number of steps.

# %%
D2 = planar(angles)


def panel_b(signal_angle=signal_angle, n_steps=n_steps_2d, ax=None):
    ax = ax if ax is not None else plt.figure(figsize=(3, 3)).add_subplot()
    trace = pursuit_trace(planar(signal_angle)[0], D2, algorithm="mp", n_steps=n_steps)
    draw_steps(ax, D2, trace, title=f"B  MP in 2-D, {n_steps} steps")
    ax.legend(fontsize=4.5, loc="lower left", frameon=False, handletextpad=0.2, labelspacing=0.2)
    print("atoms chosen:", trace.selected + 1, " ‖r_t‖:", np.round(np.linalg.norm(trace.residuals, axis=1), 4))
    return trace


trace_2d = panel_b(ax=ax_b)
explore(panel_b, signal_angle=Slider(float(signal_angle), 0.0, 180.0, 5.0),
        n_steps=Slider(n_steps_2d, 1, 12))

# %% [markdown]
# ## C — matching pursuit in 3-D
# `n_atoms_3d` random unit atoms in `ℝ³` and a random unit signal; same drawing in 3-D (drag
# to rotate in JupyterLab with `%matplotlib widget`, if ipympl is installed).

# %%
D3 = unit_rows(rng.standard_normal((n_atoms_3d, 3)))
x3 = unit_rows(rng.standard_normal((1, 3)))[0]
trace_3d = pursuit_trace(x3, D3, algorithm="mp", n_steps=n_steps_3d)
draw_steps(ax_c, D3, trace_3d, title=f"C  MP in 3-D, {n_steps_3d} steps")
ax_c.legend(fontsize=4.5, loc="upper left", frameon=False)
ax_c.tick_params(labelsize=5)
print("atoms chosen:", trace_3d.selected + 1, " ‖r_t‖:", np.round(np.linalg.norm(trace_3d.residuals, axis=1), 4))

# %% [markdown]
# ## D, E — residual energy and revisits on the random dictionary
# D: median relative residual energy `‖r_t‖²/‖x‖²` after `t` MP steps over the `n_signals`
# signals of panel A (bands: quartiles), with OMP for comparison: OMP reaches 0 after
# `n_active` steps (drawn at a floor of 1e-12), MP only decays. E: how many distinct atoms MP
# uses in `n_steps` steps (fewer than `n_steps`: it picked some atoms more than once).

# %%
energy0 = (X**2).sum(1)
decay, bands = {}, {}
for algo in ("mp", "omp"):
    path = sparse_encode(X, D, algorithm=algo, n_nonzero_coefs=n_steps, return_path=True).path
    rel = np.vstack([np.ones(n_signals), ((X - path @ D) ** 2).sum(-1) / energy0])
    decay[algo.upper()] = np.median(rel, 1)
    bands[algo.upper()] = (np.quantile(rel, 0.25, 1), np.quantile(rel, 0.75, 1))
    if algo == "mp":
        mp_final = path[-1]
floor = 1e-12  # OMP's residual is exactly 0 after n_active steps: drawn at this floor
residual_decay(ax_d, {k: np.maximum(v, floor) for k, v in decay.items()},
               bands={k: tuple(np.maximum(b, floor) for b in v) for k, v in bands.items()},
               title="D  residual energy per step")
ax_d.axvline(n_active, color="0.7", lw=0.8, ls=":")
distinct = np.count_nonzero(mp_final, axis=1)
ax_e.hist(distinct, bins=np.arange(distinct.min(), distinct.max() + 2) - 0.5, color="C0")
ax_e.set(xlabel=f"distinct atoms in {n_steps} MP steps", ylabel="signals", title="E  MP revisits")
revisit_share = float((distinct < n_steps).mean())
print(f"MP after {n_active} steps: median ‖r‖²/‖x‖² = {decay['MP'][n_active]:.3f} (OMP {decay['OMP'][n_active]:.1e}); "
      f"{revisit_share:.0%} of signals use fewer than {n_steps} distinct atoms in {n_steps} steps")
fig

# %% [markdown]
# ## Claims, checked on this run's numbers
# Properties of matching pursuit ("paper value" = what theory says).

# %%
norms_2d = np.linalg.norm(trace_2d.residuals, axis=1)
codes_2d = trace_2d.codes[-1]
energy_gap = abs(1.0 - (np.sum(np.diff(trace_2d.codes, axis=0, prepend=0) ** 2) + norms_2d[-1] ** 2))
last_orth = max(abs(trace_2d.residuals[t + 1] @ D2[j]) for t, j in enumerate(trace_2d.selected))
claims = [
    claim("mp_energy", "with unit atoms each MP step moves energy from the residual into the "
          "code: ‖x‖² = Σ_t c_t² + ‖r_T‖²", paper_value=0.0, ours=float(energy_gap),
          verdict=bool(energy_gap < 1e-10), note="ours = |‖x‖² − Σ c_t² − ‖r_T‖²| in panel B"),
    claim("mp_orthogonal_to_last", "after a step the residual is orthogonal to the atom just "
          "chosen", paper_value=0.0, ours=float(last_orth), verdict=bool(last_orth < 1e-10),
          note="largest |⟨r_t, d_j(t)⟩| over the steps of panel B"),
    claim("mp_revisits_2d", "with more atoms than dimensions MP picks an atom again",
          paper_value="yes", ours=int(n_steps_2d - len(set(trace_2d.selected.tolist()))),
          verdict=bool(len(set(trace_2d.selected.tolist())) < n_steps_2d),
          note="ours = repeated choices in the steps of panel B"),
    claim("mp_monotone", "the residual norm never grows under MP", paper_value="monotone",
          ours=float(np.diff(norms_2d).max()), verdict=bool(np.diff(norms_2d).max() <= 1e-12),
          note="largest increase of ‖r_t‖ in panel B"),
    claim("omp_beats_mp", f"after {n_active} steps OMP's residual is below MP's (notebook 2)",
          paper_value="OMP < MP", ours=float(decay["MP"][n_active]),
          verdict=bool(decay["OMP"][n_active] < decay["MP"][n_active]),
          note="ours = MP's median relative residual energy at t = n_active"),
]
print(format_claims(claims))

# %% [markdown]
# ## Save the figure and its numbers

# %%
results = {
    "panel_b": {"selected_atoms": (trace_2d.selected + 1).tolist(), "residual_norms": norms_2d.tolist()},
    "panel_c": {"selected_atoms": (trace_3d.selected + 1).tolist(),
                "residual_norms": np.linalg.norm(trace_3d.residuals, axis=1).tolist()},
    "decay_median_relative_energy": {k: v.tolist() for k, v in decay.items()},
    "mp_revisit_share": revisit_share,
    "claims": claims,
}
save_figure(fig, STEM, preset=preset, results=results, params=params, figure="teaching 1",
            paper="Teaching notebooks (no paper)")

# %% [markdown]
# ## Exercises
# Fill in each skeleton cell, then run the check under it; it says `pass` or `not yet` and why.
# (`solutions = True` in the parameters cell runs the answers.) Use `D2` and the unit signal
# `x2` of panel B.
#
# **1. The first choice.** Compute the correlations `c = D2 x2` and the index (0-based) of the
# atom MP picks first.

# %%
x2 = planar(signal_angle)[0]

# %% tags=["exercise-skeleton"]
first_atom = None  # your code: an int, 0-based

# %% tags=["exercise-solution"]
if solutions:
    first_atom = int(np.argmax(np.abs(D2 @ x2)))

# %% tags=["exercise-check"]
check("first_atom", first_atom, int(trace_2d.selected[0]), hint="np.argmax of |D2 @ x2|")

# %% [markdown]
# **2. One MP step.** Write `mp_step(r, D)` returning the new residual after one matching
# pursuit step from residual `r` (unit atoms).

# %% tags=["exercise-skeleton"]
def mp_step(r, D):
    """Return the residual after one MP step from r (rows of D are unit atoms)."""
    raise NotImplementedError("your code here")


# %% tags=["exercise-solution"]
if solutions:
    def mp_step(r, D):
        """Return the residual after one MP step from r (rows of D are unit atoms)."""
        c = D @ r
        j = np.argmax(np.abs(c))
        return r - c[j] * D[j]

# %% tags=["exercise-check"]
check("mp_step", lambda: mp_step(mp_step(x2, D2), D2), trace_2d.residuals[2], atol=1e-10,
      hint="c = D @ r; pick j = argmax |c_j|; subtract c_j d_j")

# %% [markdown]
# **3. Energy bookkeeping.** From `trace_2d.codes` (the code after each step), compute the
# squared residual norm after the last step *without* forming the residual, using
# `‖r_t‖² = ‖r_{t−1}‖² − c_t²` (here `‖x2‖ = 1`).

# %% tags=["exercise-skeleton"]
final_energy = None  # your code: a float

# %% tags=["exercise-solution"]
if solutions:
    steps = np.diff(trace_2d.codes, axis=0, prepend=0)  # the coefficient added at each step
    final_energy = 1.0 - float((steps**2).sum())

# %% tags=["exercise-check"]
check("final_energy", final_energy, norms_2d[-1] ** 2, atol=1e-10,
      hint="the coefficient added at step t is codes[t] - codes[t-1]")
