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
# # Tour — matching pursuit, OMP, gradient pursuit and ACGP, side by side
#
# A teaching notebook for `mplib.pursuit`, not a paper figure. All four greedy
# algorithms pick the atom most correlated with the residual; they differ in how they update
# the coefficients afterwards:
#
# * **MP** (Mallat & Zhang 1993) moves along the new atom only: the residual zigzags and an atom
#   may be picked again.
# * **OMP** (Pati et al. 1993) refits all selected atoms by least squares: the residual is
#   orthogonal to every selected atom, so in 2-D it vanishes after two steps.
# * **GP** (Blumensath & Davies 2008) takes one exact line-search step along the gradient on
#   the support: cheaper than OMP, not orthogonal.
# * **ACGP** makes that step conjugate to the previous one: almost OMP's accuracy for about
#   GP's arithmetic per step (in theory; panel F measures what this implementation does).
#
# **What to look at:** (A–D) the residual after each step on a 2-D problem, one panel per
# algorithm; (E) how fast the residual decays on a random dictionary (OMP ≤ ACGP ≤ GP ≤ MP);
# (F) a small timing of the batched solvers against scikit-learn (notebook-sized;
# `benchmarks/bench_pursuit.py` is the real benchmark).
#
# Data: synthetic (random unit-norm dictionaries, exact), no substitute. Runtime: smoke a few
# seconds, quick about a minute, full a few minutes (on 2 CPU cores).

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # the only source of randomness (dictionaries, codes, noise)
toy_angles: list = [0, 70, 125]  # directions of the unit atoms of the 2-D problem (panel A), degrees
toy_signal_angle: float = 95  # direction of the unit 2-D signal, degrees
toy_steps: int = 3  # pursuit steps drawn in panel A (at most len(toy_angles))
n_features: int = 64  # signal dimension d of panel B
n_atoms: int = 256  # dictionary size N of panel B (random unit-norm atoms)
n_active: int = 8  # atoms per synthetic signal in panel B
noise: float = 0.01  # noise standard deviation per entry in panel B
n_signals: int = 500  # signals averaged in panel B
n_steps: int = 24  # pursuit steps in panel B
bench_sizes: list = [[64, 256, 8, 2000], [256, 1024, 32, 1000]]  # timed problems [d, N, S, B] (full: larger)
sk_max_signals: int = 200  # scikit-learn is timed on at most this many signals (its cost is linear in B)
bench_repeats: int = 2  # best of this many runs per timing (full: 3)

# %%
import timeit
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
from sklearn import linear_model as sklm

import mplib
from mplib.compat import sklearn as compat
from mplib.plotting import save_figure, use_style
from mplib.plotting.pursuit import pursuit_steps, residual_decay, throughput_bars
from mplib.pursuit import sparse_encode
from mplib.repro import numpy_generator
from mplib.results import claim, format_claims

STEM = "pursuit_tour"
ALGOS = ["mp", "omp", "gp", "acgp"]
NAMES = {"mp": "MP", "omp": "OMP", "gp": "GP", "acgp": "ACGP"}
params = dict(preset=preset, seed=seed, toy_angles=toy_angles,
              toy_signal_angle=toy_signal_angle, toy_steps=toy_steps,
              n_features=n_features, n_atoms=n_atoms, n_active=n_active, noise=noise,
              n_signals=n_signals, n_steps=n_steps, bench_sizes=bench_sizes,
              sk_max_signals=sk_max_signals, bench_repeats=bench_repeats)
use_style()
mplib.show_versions()
rng = numpy_generator(seed)


def unit_rows(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def rate(f, n):  # signals per second, best of `bench_repeats` runs
    return n / min(timeit.repeat(f, number=1, repeat=bench_repeats))


fig = plt.figure(figsize=(7.0, 4.6), layout="constrained")
top, bottom = fig.subfigures(2, 1, height_ratios=[1.0, 1.3])
axd = {**top.subplot_mosaic([ALGOS]), **bottom.subplot_mosaic([["decay", "bench"]])}

# %% [markdown]
# ## A–D — step by step on a 2-D problem
# Three unit atoms in the plane (grey lines) and one unit signal (black dot). Each panel draws
# the residual after each step (dots joined by arrows, dark → light for steps 1, 2, …) and, in
# the same colour, the atom chosen at that step; the legend names each step's residual and
# atom. An MP step
# moves the residual parallel to its atom, so MP zigzags (and may pick an atom again); OMP and
# ACGP reach zero after two atoms, GP only approaches it.

# %%
toy_D = np.stack([np.cos(np.radians(toy_angles)), np.sin(np.radians(toy_angles))], 1)
toy_x = np.array([[np.cos(np.radians(toy_signal_angle)), np.sin(np.radians(toy_signal_angle))]])
toy = {}
for algo in ALGOS:
    steps = toy_steps if algo == "mp" else min(toy_steps, toy_x.shape[1])  # orthogonal pursuits: <= n_features
    path = sparse_encode(toy_x, toy_D, algorithm=algo, n_nonzero_coefs=steps, return_path=True).path[:, 0]
    residuals = np.vstack([toy_x, toy_x - path @ toy_D])  # r_0 = x, then after each step
    added = (path != 0) & ~np.vstack([np.zeros((1, len(toy_D)), bool), path[:-1] != 0])
    moved = np.abs(np.diff(path, axis=0, prepend=0)).argmax(1)  # MP may re-pick an atom
    chosen = np.where(added.any(1), added.argmax(1), moved)
    toy[algo] = {"residual_norms": np.linalg.norm(residuals, axis=1), "selected": chosen}
    title = f"{'ABCD'[ALGOS.index(algo)]}  {NAMES[algo]}"
    pursuit_steps(axd[algo], toy_D, residuals, chosen, title=title)
    axd[algo].legend(fontsize=4.5, loc="lower left", handletextpad=0.2, borderpad=0.2,
                     labelspacing=0.2, frameon=False)
    print(f"{NAMES[algo]:5s} atoms {chosen + 1}, ‖r_k‖ {np.round(toy[algo]['residual_norms'], 4)}")

# %% [markdown]
# ## E — residual decay on a random dictionary
# `n_signals` signals, each a noisy combination of `n_active` random atoms of a random
# unit-norm dictionary (d × N = `n_features` × `n_atoms`). Curves: median relative residual
# energy ‖r_k‖²/‖x‖² after k steps (bands: quartiles; the JSON also has the means). OMP drops to
# the noise floor at k = `n_active` (exact recovery); ACGP follows it closely; GP lags; MP
# decays slowest.

# %%
D = unit_rows(rng.standard_normal((n_atoms, n_features)))
Z = np.zeros((n_signals, n_atoms))
for z in Z:
    z[rng.choice(n_atoms, n_active, replace=False)] = rng.choice([-1, 1], n_active) * rng.uniform(1, 2, n_active)
X = Z @ D + noise * rng.standard_normal((n_signals, n_features))
energy0 = (X**2).sum(1)
decay, means, bands = {}, {}, {}
for algo in ALGOS:
    path = sparse_encode(X, D, algorithm=algo, n_nonzero_coefs=n_steps, return_path=True).path
    rel = np.vstack([np.ones(n_signals), ((X - path @ D) ** 2).sum(-1) / energy0])
    decay[NAMES[algo]] = np.median(rel, 1)
    means[NAMES[algo]] = rel.mean(1)
    bands[NAMES[algo]] = (np.quantile(rel, 0.25, axis=1), np.quantile(rel, 0.75, axis=1))
residual_decay(axd["decay"], decay, bands=bands, title=f"E  residual decay (d={n_features}, N={n_atoms})")
axd["decay"].axvline(n_active, color="0.7", lw=0.8, ls=":")
for name, curve in decay.items():
    print(f"{name:5s} median ‖r‖²/‖x‖² after {n_active} steps: {curve[n_active]:.2e}, after {n_steps}: {curve[-1]:.2e}")

# %% [markdown]
# ## F — a small timing against scikit-learn
# For each problem size (d, N, S, B): scikit-learn's `orthogonal_mp_gram` (a Python loop over
# signals, timed on at most `sk_max_signals` of them), the drop-in
# `mplib.compat.sklearn.orthogonal_mp_gram` (same call, all signals batched; both given the
# Gram matrix) and the native `mplib.pursuit.sparse_encode` for the four algorithms (from X
# and D: it forms the Gram matrix itself); best of `bench_repeats` runs, in
# signals per second on this machine's CPU threads. The bars show the largest problem. Run
# `benchmarks/bench_pursuit.py` for the real benchmark (SPAMS, GPU, more sizes).
#
# What the numbers show is printed under the cell, from this run's timings. GP and ACGP do
# less arithmetic per step than OMP in theory, but here OMP runs a compiled CPU kernel
# (one signal start to finish per thread, with a Cholesky update) while GP and ACGP run
# batched torch operations. At the smoke preset's tiny problem (d = 32, S = 4) the batched MP
# and GP can outrun it; at the quick and full sizes OMP is the fastest of the four and GP and
# ACGP the slowest (about 0.1× OMP at d = 512, S = 64 in the full preset on 2 CPU cores).

# %%
bench = []
for d, N, S, B in bench_sizes:
    Db = unit_rows(rng.standard_normal((N, d)))
    Xb = rng.standard_normal((B, d))
    Bs = min(B, sk_max_signals)
    row = {"d": d, "N": N, "S": S, "B": B, "sklearn_signals": Bs}
    row["scikit-learn"] = rate(partial(sklm.orthogonal_mp_gram, Db @ Db.T, Db @ Xb[:Bs].T, n_nonzero_coefs=S), Bs)
    row["compat"] = rate(partial(compat.orthogonal_mp_gram, Db @ Db.T, Db @ Xb.T, n_nonzero_coefs=S), B)
    for algo in ALGOS:
        row[algo] = rate(partial(sparse_encode, Xb, Db, algorithm=algo, n_nonzero_coefs=S), B)
    ours = sparse_encode(Xb[:Bs], Db, n_nonzero_coefs=S).codes
    ref = sklm.orthogonal_mp_gram(Db @ Db.T, Db @ Xb[:Bs].T, n_nonzero_coefs=S).T
    row["omp_same_support_as_sklearn"] = float(((ours != 0) == (ref != 0)).all(1).mean())
    row["omp_max_abs_diff"] = float(np.abs(ours - ref).max())
    bench.append(row)
    print(f"d={d} N={N} S={S} B={B}: scikit-learn {row['scikit-learn']:,.0f}/s, compat {row['compat']:,.0f}/s "
          f"({row['compat'] / row['scikit-learn']:.1f}×), sparse_encode OMP {row['omp']:,.0f}/s, "
          f"same support {row['omp_same_support_as_sklearn']:.4f}")
last = bench[-1]
labels = ["scikit-learn OMP", "mplib.compat OMP"] + [f"mplib {NAMES[a]}" for a in ALGOS]
throughput_bars(axd["bench"], labels, [last["scikit-learn"], last["compat"]] + [last[a] for a in ALGOS],
                reference=0, title=f"F  d={last['d']}, N={last['N']}, S={last['S']}, B={last['B']}")
order = sorted(ALGOS, key=lambda a: -last[a])
print("measured, largest problem: fastest to slowest " + " > ".join(
    f"{NAMES[a]} {last[a]:,.0f}/s" for a in order)
      + f"; GP runs at {last['gp'] / last['omp']:.2f}× and ACGP at "
        f"{last['acgp'] / last['omp']:.2f}× OMP's speed; the drop-in OMP at "
        f"{last['compat'] / last['scikit-learn']:.1f}× scikit-learn's")
fig

# %% [markdown]
# ## Claims, checked on this run's numbers
# Textbook properties of the four algorithms ("paper value" = what theory says).

# %%
order_k = [k for k, _ in sorted(decay.items(), key=lambda kv: kv[1][n_active])]
same = min(r["omp_same_support_as_sklearn"] for r in bench)
claims = [
    claim("omp_exact_2d", "OMP's residual is orthogonal to the selected atoms: zero after 2 "
          "steps in 2-D", paper_value=0.0, ours=float(toy["omp"]["residual_norms"][2]),
          verdict=bool(toy["omp"]["residual_norms"][2] < 1e-10),
          note="ours = ‖r_2‖ on the 2-D problem (threshold 1e-10)"),
    claim("acgp_exact_2d", "ACGP equals OMP on a 2-D support (two conjugate directions span "
          "it)", paper_value=0.0, ours=float(toy["acgp"]["residual_norms"][2]),
          verdict=bool(toy["acgp"]["residual_norms"][2] < 1e-10),
          note="ours = ‖r_2‖ on the 2-D problem (threshold 1e-10)"),
    claim("decay_order", f"residual after {n_active} steps: OMP ≤ ACGP ≤ GP ≤ MP",
          paper_value="OMP ≤ ACGP ≤ GP ≤ MP", ours=" ≤ ".join(order_k),
          verdict=order_k == ["OMP", "ACGP", "GP", "MP"],
          note=f"median ‖r‖²/‖x‖² after {n_active} steps over {n_signals} signals"),
    claim("omp_matches_sklearn", "the batched OMP chooses scikit-learn's supports",
          paper_value=1.0, ours=same, verdict=bool(same >= 0.999),
          note="smallest share of signals with the same support, over the timed problems "
               "(threshold 0.999)"),
    claim("batched_faster_than_sklearn", "batching beats scikit-learn's per-signal loop",
          paper_value="faster", ours=last["compat"] / last["scikit-learn"],
          verdict=bool(last["compat"] > last["scikit-learn"]),
          note="ours = speed of mplib.compat's OMP over scikit-learn's on the largest timed "
               "problem, this machine (ratios vary by machine)"),
]
print(format_claims(claims))

# %% [markdown]
# ## Save the figure and its numbers

# %%
results = {
    "toy": {NAMES[a]: {"selected_atoms": (toy[a]["selected"] + 1).tolist(),
                       "residual_norms": toy[a]["residual_norms"].tolist()} for a in ALGOS},
    "decay_median_relative_energy": {k: v.tolist() for k, v in decay.items()},
    "decay_mean_relative_energy": {k: v.tolist() for k, v in means.items()},
    "benchmark": bench,
    "claims": claims,
}
save_figure(fig, STEM, preset=preset, results=results, params=params, figure="tour",
            paper="Teaching notebooks (no paper)")

# %% [markdown]
# ## Claims and what we see
# The table printed above (and `claims` in the JSON) lists each property with the value
# theory gives, ours and the verdict.
