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
# # Teaching 3 — gradient pursuits: cheaper steps than OMP, at what cost in accuracy?
#
# The third notebook of mplib's course on sparse coding (after `teach_02_omp`).
#
# OMP's least-squares refit is its expensive part. **Gradient pursuit** (GP; Blumensath &
# Davies, "Gradient pursuits", IEEE TSP 56(6), 2008, § III) keeps OMP's selection but
# replaces the refit by *one* step of steepest descent on `‖x − z_S D_S‖²` over the support:
# with the residual `r`, the gradient on the support is `g = D_S r` (the correlations of the
# chosen atoms, already computed for the selection), its image in signal space is
# `c = g D_S`, and the exact line search gives the step `a = ⟨r, c⟩ / ‖c‖²`; then
# `z_S += a g` and `r −= a c`. **ACGP** (approximate conjugate gradient pursuit, same paper,
# § III-C) makes each direction conjugate to the previous one,
# `u = g + b u_prev` with `b = −⟨c_prev, g D_S⟩ / ‖c_prev‖²`: one more product, and in exact
# arithmetic on a fixed support it would reach the least-squares solution in `|S|` steps.
#
# **Cost per step** (multiply-adds for one signal; our count). Every algorithm first
# correlates the residual with all `N` atoms (`N·d`, the same for all four). On top of it,
# at step `t` (support size `t`): MP `d`; OMP with a Cholesky update `2·t·d + 3·t²` (the new
# atom against the chosen ones, two triangular solves, the new residual); GP `t·d + 3·d`;
# ACGP `2·t·d + 4·d`. They share the dominant term, so the differences show when `d` and
# `t` are large next to `N`; GP's appeal in the paper is also memory (no factorisation kept)
# and fast operators for `D` (FFT, wavelets).
#
# **What to look at:** (A) residual energy per step: OMP ≤ ACGP ≤ GP ≤ MP; (B) measured time
# against accuracy for the batched solvers of `mplib.pursuit` at several budgets; (C) the same
# for the one-signal numpy references in `mplib.pursuit.reference` (their timing follows the
# arithmetic more closely); (D) the cost model above, per step.
#
# Data: synthetic, exact (no substitute). Timings are of this machine and vary (the build
# runs on 2 shared CPU cores). Runtime: smoke seconds, quick ≈ 20 s. In JupyterLab
# (`make lab`) the sliders under panel A re-run it for another sparsity; `solutions = True`
# in the parameters cell runs the exercises' answers.

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # the only source of randomness
solutions: bool = False  # run the exercises' solutions (False: the skeletons a student fills in)
n_features: int = 128  # signal dimension d
n_atoms: int = 512  # dictionary size N
n_active: int = 16  # atoms per synthetic signal
noise: float = 0.0  # noise standard deviation per entry
n_signals: int = 200  # signals for panels A and B
budgets: list = [4, 8, 16, 32]  # step budgets timed in panels B and C
repeats: int = 2  # best of this many timings
ref_signals: int = 10  # signals timed with the one-signal numpy references (panel C)

# %%
import timeit

import matplotlib.pyplot as plt
import numpy as np

import mplib
from mplib.plotting import residual_decay, save_figure, use_style
from mplib.pursuit import reference, sparse_encode
from mplib.repro import numpy_generator
from mplib.results import claim, format_claims
from mplib.teaching import Slider, check, explore

STEM = "teach_03_gradient_pursuit"
ALGOS = ["mp", "omp", "gp", "acgp"]
NAMES = {"mp": "MP", "omp": "OMP", "gp": "GP", "acgp": "ACGP"}
REFERENCE = {"mp": reference.matching_pursuit, "omp": reference.orthogonal_mp,
             "gp": reference.gradient_pursuit, "acgp": reference.acgp}
params = dict(preset=preset, seed=seed, solutions=solutions, n_features=n_features,
              n_atoms=n_atoms, n_active=n_active, noise=noise, n_signals=n_signals,
              budgets=budgets, repeats=repeats, ref_signals=ref_signals)
use_style()
mplib.show_versions()
rng = numpy_generator(seed)


def unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def problem(d, N, k, n, rng):
    """A random unit-norm dictionary and n signals of k atoms each (signs ±, sizes in [1, 2])."""
    D = unit_rows(rng.standard_normal((N, d)))
    Z = np.zeros((n, N))
    for z in Z:
        z[rng.choice(N, k, replace=False)] = rng.choice([-1, 1], k) * rng.uniform(1, 2, k)
    return D, Z, Z @ D + noise * rng.standard_normal((n, d))


def best_time(f):
    return min(timeit.repeat(f, number=1, repeat=repeats))


def relative_energy(X, codes, D):
    return np.median(((X - codes @ D) ** 2).sum(1) / (X**2).sum(1))


fig = plt.figure(figsize=(7.0, 5.0), layout="constrained")
axd = fig.subplot_mosaic([["decay", "batched"], ["cost", "reference"]])
plt.close(fig)  # filled panel by panel below and shown once, complete, at the end

# %% [markdown]
# ## A — accuracy per step
# Median relative residual energy `‖r_t‖²/‖x‖²` after `t` steps (bands: quartiles) on
# `n_signals` signals of `n_active` random atoms (d × N = `n_features` × `n_atoms`).

# %%
D, Z, X = problem(n_features, n_atoms, n_active, n_signals, rng)
n_steps = max(budgets)
decay, bands = {}, {}
for algo in ALGOS:
    path = sparse_encode(X, D, algorithm=algo, n_nonzero_coefs=n_steps, return_path=True).path
    rel = np.vstack([np.ones(n_signals), ((X - path @ D) ** 2).sum(-1) / (X**2).sum(1)])
    decay[NAMES[algo]] = np.median(rel, 1)
    bands[NAMES[algo]] = (np.quantile(rel, 0.25, 1), np.quantile(rel, 0.75, 1))
floor = 1e-12  # exact zeros (OMP, ACGP at t = n_active) drawn at this floor
residual_decay(axd["decay"], {k: np.maximum(v, floor) for k, v in decay.items()},
               bands={k: tuple(np.maximum(b, floor) for b in v) for k, v in bands.items()},
               title=f"A  residual per step (k = {n_active})")
axd["decay"].axvline(n_active, color="0.7", lw=0.8, ls=":")
for name, curve in decay.items():
    print(f"{name:5s} median ‖r‖²/‖x‖² after {n_active} steps {curve[n_active]:.2e}, after {n_steps} {curve[-1]:.2e}")


def try_sparsity(k=n_active, steps=2 * n_active):
    Dk, _, Xk = problem(n_features, n_atoms, k, 200, numpy_generator(seed + 1))
    steps = min(steps, n_features)
    out = {NAMES[a]: relative_energy(Xk, sparse_encode(Xk, Dk, algorithm=a, n_nonzero_coefs=steps).codes, Dk)
           for a in ALGOS}
    print(f"k = {k}, {steps} steps: " + ", ".join(f"{n} {v:.1e}" for n, v in out.items()))
    return out


explore(try_sparsity, k=Slider(n_active, 1, n_features // 2), steps=Slider(2 * n_active, 1, n_features))

# %% [markdown]
# ## B — time against accuracy, batched solvers
# For each budget in `budgets` (points along each line, left to right: more steps), the time
# `mplib.pursuit.sparse_encode` takes for all `n_signals` signals (best of `repeats`) against
# the median relative residual energy it reaches. Down and left is better. The batched OMP runs
# a compiled Cholesky kernel, GP and ACGP batched torch operations, so this panel measures
# implementations as much as algorithms.

# %%
def timed(fn_of_budget):
    rows = []
    for k in budgets:
        seconds = best_time(lambda k=k: fn_of_budget(k))
        rows.append({"budget": k, "seconds": seconds, "energy": float(fn_of_budget(k, score=True))})
    return rows


def batched(algo):
    def run(k, score=False):
        codes = sparse_encode(X, D, algorithm=algo, n_nonzero_coefs=k).codes
        return relative_energy(X, codes, D) if score else codes
    return run


def one_by_one(algo):
    Xs = X[:ref_signals]

    def run(k, score=False):
        codes = np.stack([REFERENCE[algo](x, D, k).codes for x in Xs])
        return relative_energy(Xs, codes, D) if score else codes
    return run


timing = {"batched": {}, "reference": {}}
for algo in ALGOS:
    timing["batched"][NAMES[algo]] = timed(batched(algo))
    timing["reference"][NAMES[algo]] = timed(one_by_one(algo))
for key, ax, title, n in (("batched", axd["batched"], "B  batched (sparse_encode)", n_signals),
                          ("reference", axd["reference"], "C  numpy references, one signal at a time", ref_signals)):
    for name, rows in timing[key].items():
        ax.plot([1e3 * r["seconds"] / n for r in rows], [max(r["energy"], floor) for r in rows], "o-", label=name, ms=3)
    ax.set(xscale="log", yscale="log", xlabel="ms per signal", ylabel=r"median $\|r\|^2/\|x\|^2$", title=title)
    ax.legend(fontsize=6)
for key in timing:
    at = {name: next(r for r in rows if r["budget"] == n_active) for name, rows in timing[key].items()}
    print(f"{key:9s} at {n_active} steps: " + ", ".join(
        f"{n} {1e6 * r['seconds'] / (n_signals if key == 'batched' else ref_signals):.0f} µs/signal "
        f"(‖r‖²/‖x‖² {r['energy']:.1e})" for n, r in at.items()))

# %% [markdown]
# ## C, D — the one-signal references and the cost model
# C (right): as B, for the numpy references of `mplib.pursuit.reference` on the first
# `ref_signals` signals. D (left): the multiply-adds of step `t` beyond the shared `N·d`
# correlations, from the formulas in the introduction, at this `d`.

# %%
t = np.arange(1, n_steps + 1)
cost = {"MP": np.full(t.shape, n_features), "OMP": 2 * t * n_features + 3 * t**2,
        "GP": t * n_features + 3 * n_features, "ACGP": 2 * t * n_features + 4 * n_features}
for name, c in cost.items():
    axd["cost"].plot(t, c, label=name)
axd["cost"].axhline(n_atoms * n_features, color="0.5", ls="--", lw=0.8, label="N·d (shared)")
axd["cost"].set(yscale="log", xlabel="step $t$", ylabel="multiply-adds (beyond N·d)",
                title=f"D  cost model (d = {n_features}, N = {n_atoms})")
axd["cost"].legend(fontsize=6)
fig

# %% [markdown]
# ## Claims, checked on this run's numbers
# What the theory says ("paper value") against this run.

# %%
order = [k for k, _ in sorted(decay.items(), key=lambda kv: kv[1][n_active])]
ref_at = {n: next(r for r in rows if r["budget"] == max(budgets))["seconds"] for n, rows in timing["reference"].items()}
claims = [
    claim("accuracy_order", f"residual after k = {n_active} steps: OMP ≤ ACGP ≤ GP ≤ MP",
          paper_value="OMP ≤ ACGP ≤ GP ≤ MP", ours=" ≤ ".join(order),
          verdict=order == ["OMP", "ACGP", "GP", "MP"],
          note=f"median ‖r‖²/‖x‖² after {n_active} steps over {n_signals} signals"),
    claim("omp_exact", "OMP recovers k-sparse noiseless signals in k steps", paper_value=0.0,
          ours=float(decay["OMP"][n_active]), verdict=bool(noise > 0 or decay["OMP"][n_active] < 1e-10),
          note="median relative residual energy at t = k (threshold 1e-10; noise = 0)"),
    claim("acgp_below_gp", "conjugate directions help: ACGP's residual is below GP's",
          paper_value="ACGP < GP", ours=float(decay["ACGP"][n_active] / max(decay["GP"][n_active], 1e-300)),
          verdict=bool(decay["ACGP"][n_active] < decay["GP"][n_active]),
          note="ours = ACGP's over GP's median residual energy at t = k (below 1: reproduced)"),
    claim("gp_cheaper_than_omp_reference", "a GP step costs less than an OMP step (one signal, "
          "numpy references)", paper_value="GP < OMP", ours=float(ref_at["GP"] / ref_at["OMP"]),
          verdict=bool(ref_at["GP"] < ref_at["OMP"]), partly=True,
          note=f"ours = time ratio GP/OMP of the references at {max(budgets)} steps on this "
               "machine (timings vary; partly when not faster: the cost model's gap is small "
               "next to N·d)"),
]
print(format_claims(claims))

# %% [markdown]
# ## Save the figure and its numbers

# %%
results = {
    "decay_median_relative_energy": {k: v.tolist() for k, v in decay.items()},
    "timing": timing,
    "cost_model": {k: v.tolist() for k, v in cost.items()},
    "claims": claims,
}
save_figure(fig, STEM, preset=preset, results=results, params=params, figure="teaching 3",
            paper="Teaching notebooks (no paper)")

# %% [markdown]
# ## Exercises
# Fill in each skeleton cell, then run the check under it (`pass` or `not yet: <why>`).
# `solutions = True` in the parameters cell runs the answers.
#
# **1. One gradient-pursuit update.** Write `gp_update(r, D, S)`: given the residual `r` and
# the support `S` (a list of atom indices), take one exact line-search step along the
# gradient on the support and return the new residual. The check starts from the residual of
# one step (where GP equals MP) with the support GP has after two steps, and compares with
# `mplib.pursuit.reference.gradient_pursuit` run for two steps.

# %%
x = X[0]
one = reference.gradient_pursuit(x, D, 1)
two = reference.gradient_pursuit(x, D, 2)
S2 = list(np.flatnonzero(two.codes))

# %% tags=["exercise-skeleton"]
def gp_update(r, D, S):
    """Return the residual after one gradient-pursuit step on support S."""
    raise NotImplementedError("your code here")


# %% tags=["exercise-solution"]
if solutions:
    def gp_update(r, D, S):
        """Return the residual after one gradient-pursuit step on support S."""
        g = D[S] @ r  # gradient on the support
        c = g @ D[S]  # its image in signal space
        return r - (r @ c) / (c @ c) * c

# %% tags=["exercise-check"]
check("gp_update", lambda: gp_update(one.residual, D, S2), two.residual, atol=1e-10,
      hint="g = D[S] @ r; c = g @ D[S]; a = <r, c> / <c, c>")

# %% [markdown]
# **2. Steps to match OMP.** From the median curves `decay` of panel A, find the smallest
# number of steps `t` at which GP's median relative residual energy falls below 1e-3
# (-1 if it never does within `n_steps`).

# %% tags=["exercise-skeleton"]
gp_steps_needed = None  # your code: an int (-1 if never)

# %% tags=["exercise-solution"]
if solutions:
    below = np.flatnonzero(decay["GP"] < 1e-3)
    gp_steps_needed = int(below[0]) if below.size else -1

# %% tags=["exercise-check"]
expected_steps = int(np.flatnonzero(decay["GP"] < 1e-3)[0]) if (decay["GP"] < 1e-3).any() else -1
check("gp_steps_needed", gp_steps_needed, expected_steps,
      hint="np.flatnonzero(decay['GP'] < 1e-3); index t is the step (entry 0 is t = 0); "
           "answer -1 if it never gets there")
