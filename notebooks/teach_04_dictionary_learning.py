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
# # Teaching 4 — dictionary learning: MOD and K-SVD, and denoising natural images
#
# The fourth notebook of mplib's course on sparse coding (1 sparse coding, 2 OMP, 3 gradient
# pursuit, **4 dictionary learning**, 5 from pursuit to sparse autoencoders). So far the
# dictionary `D` was given; here it is *learned* from data.
#
# **The problem.** Given training signals `X` (one per row, `n × d`), find a dictionary `D`
# (`N × d`, unit-norm rows) and sparse codes `Z` (`n × N`) that solve
#
# $$\min_{D, Z} \|X - Z D\|_F^2 \quad \text{subject to} \quad \|z_i\|_0 \le k \ \text{for every } i.$$
#
# Both methods below alternate two steps, starting from some `D` (random training signals, or
# the overcomplete DCT):
#
# 1. **Sparse coding** — `D` fixed, code every signal with OMP (notebook 2). mplib's
#    Gram-space Batch-OMP (`mplib.pursuit.sparse_encode`) does this for all signals at once.
# 2. **Dictionary update** — codes' supports fixed, improve `D`.
#
# **MOD** (method of optimal directions; Engan, Aase & Husøy, ICASSP 1999) updates the whole
# dictionary at once by least squares, keeping `Z`:
#
# $$D \leftarrow \arg\min_D \|X - Z D\|_F^2 = (Z^\top Z)^{-1} Z^\top X,$$
#
# then rescales each atom to unit norm (and its codes by the inverse factor, so `Z D` is
# unchanged).
#
# **K-SVD** (Aharon, Elad & Bruckstein, IEEE TSP 54(11), 2006, Sec. IV) updates one atom at a
# time *together with its coefficients*. For atom `j`, let `ω_j` be the signals that use it and
#
# $$E_j = X_{\omega_j} - Z_{\omega_j} D + z_{\omega_j, j}\, d_j^\top$$
#
# the residual of those signals without atom `j`. The best rank-1 approximation of `E_j`,
# from its singular value decomposition `E_j = U Σ Vᵀ`, gives the new atom `d_j = v_1` and new
# coefficients `z_{ω_j, j} = σ_1 u_1`. Because the update is restricted to `ω_j`, every
# signal keeps its support: the codes stay `k`-sparse. Each atom update can only lower the
# error (the old pair is one of the rank-1 candidates). An atom no signal uses is replaced by
# the worst-represented signal. The *approximate* K-SVD of Rubinstein, Zibulevsky & Elad
# (Technion CS-2008-08) replaces the SVD by one power-iteration step: `d ← Eᵀg/‖Eᵀg‖`, `g ← E d`.
#
# **Denoising** (Elad & Aharon, IEEE TIP 15(12), 2006). For `y = x + n`, `n ~ N(0, σ²)`: take
# every overlapping 8×8 patch of `y`, remove its mean, code it with OMP *until its residual is
# at the noise level*, `‖r‖² ≤ 64 (Cσ)²` with `C = 1.15`, put the patches back and average
# the overlaps (with a small weight `λ = 30/σ` on `y` itself). The dictionary is learned by
# K-SVD on the noisy image's own patches.
#
# **What to look at:** (A) the 256 atoms K-SVD learns on 8×8 patches of natural images —
# edges and gratings at many orientations; (B) the training error per iteration for MOD,
# K-SVD and approximate K-SVD; (C) the time of K-SVD's coding step with mplib's OMP and with
# scikit-learn's; (D) the denoising table — PSNR and wall time of mplib's K-SVD denoising,
# scikit-learn's recipe, wavelet and TV denoising; (E) the images.
#
# Data: scikit-image's `camera` and `astronaut` (grey), real images, no substitute; the quick
# preset denoises a centre crop with fewer training patches (the benchmark
# `benchmarks/bench_ksvd.py` runs the whole images at 40,000 patches). Runtime (2 cores):
# smoke a few seconds, quick under a minute. In JupyterLab (`make lab`) the slider under
# panel E re-runs the DCT denoiser at another noise level; set `solutions = True` to see the
# exercises' answers.

# %% tags=["parameters"]
preset: str = "quick"  # smoke | quick | full; set by make
seed: int = 0  # the only source of randomness (patch draws, noise, initial dictionaries)
solutions: bool = False  # run the exercises' solutions (False: the skeletons a student fills in)
train_images: list = ["camera", "astronaut"]  # scikit-image images for panels A-C
n_patches: int = 10000  # training patches (8x8) for panels A-C (benchmark: 40,000)
n_atoms: int = 256  # atoms learned in panels A-C
k: int = 5  # atoms per patch in the coding step of panels A-C
n_iter: int = 8  # MOD / K-SVD iterations of panel B (benchmark: 10)
timing_patches: int = 4000  # patches of the one-iteration timing in panel C
denoise_images: list = ["camera", "astronaut"]  # images of the denoising table
sigmas: list = [15, 25]  # noise standard deviations, grey levels of 8 bits
crop: int = 128  # side of the centre crop denoised (0: the whole 512x512 image)
denoise_atoms: int = 100  # atoms of both learned denoisers (a square, for the DCT start)
denoise_train: int = 3000  # training patches of both learned denoisers (equal count)
denoise_iter: int = 6  # K-SVD iterations of the denoiser
sklearn_epochs: int = 1  # MiniBatchDictionaryLearning max_iter (epochs over the patches)

# %%

import matplotlib.pyplot as plt
import numpy as np

import mplib
from mplib.datasets import load_images, sample_patches
from mplib.dictionary import (
    add_noise,
    compare_denoisers,
    denoise_image,
    ksvd,
    mod,
    overcomplete_dct,
    psnr,
)
from mplib.plotting import save_figure, use_style
from mplib.pursuit import sparse_encode
from mplib.repro import numpy_generator
from mplib.results import claim, format_claims
from mplib.teaching import Exercise, Slider, check, explore

STEM = "teach_04_dictionary_learning"
NAMES = {"mplib_ksvd": "mplib K-SVD", "sklearn_recipe": "scikit-learn recipe",
         "wavelet": "wavelet (BayesShrink)", "tv": "TV (Chambolle)"}
params = dict(preset=preset, seed=seed, solutions=solutions, train_images=train_images,
              n_patches=n_patches, n_atoms=n_atoms, k=k, n_iter=n_iter,
              timing_patches=timing_patches, denoise_images=denoise_images, sigmas=sigmas,
              crop=crop, denoise_atoms=denoise_atoms, denoise_train=denoise_train,
              denoise_iter=denoise_iter, sklearn_epochs=sklearn_epochs)
use_style()
mplib.show_versions()
rng = numpy_generator(seed)
images = load_images(tuple(dict.fromkeys(train_images + denoise_images)))


def centre(img, side):
    """The centre ``side × side`` crop (the whole image for side 0)."""
    if not side:
        return img
    r, c = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
    return img[r: r + side, c: c + side]


def tile(D, pad=1):
    """Atoms (N, p²), N a square, as one image: a grid of p×p tiles, each scaled to [0, 1]."""
    n, p = int(np.sqrt(len(D))), int(np.sqrt(D.shape[1]))
    A = (D - D.min(1, keepdims=True)) / np.ptp(D, axis=1, keepdims=True).clip(1e-12)
    A = np.pad(A.reshape(n, n, p, p), ((0, 0), (0, 0), (0, pad), (0, pad)), constant_values=1)
    return A.transpose(0, 2, 1, 3).reshape(n * (p + pad), n * (p + pad))


fig = plt.figure(figsize=(7.2, 6.6), layout="constrained")
grid = fig.add_gridspec(3, 5)
ax_a = fig.add_subplot(grid[0, :2])
ax_b = fig.add_subplot(grid[0, 2:4])
ax_c = fig.add_subplot(grid[0, 4])
ax_img = [fig.add_subplot(grid[1 + i // 5, i % 5]) for i in range(10)]

# %% [markdown]
# ## Training patches
# `n_patches` random 8×8 patches of the training images, each with its mean (DC) removed:
# the DC is one number per patch and needs no dictionary.

# %%
X = sample_patches({n: images[n] for n in train_images}, patch_size=8, n_patches=n_patches,
                   seed=rng)
X = X - X.mean(1, keepdims=True)
print(f"X: {X.shape[0]:,} patches × {X.shape[1]} pixels, RMS {np.sqrt((X**2).mean()):.4f}")

# %% [markdown]
# ## A — the atoms K-SVD learns
# K-SVD with `n_atoms` atoms, `k` atoms per patch, `n_iter` iterations, started from random
# training patches. Each tile is one atom (rescaled to [0, 1] for display). Natural-image
# patches give oriented edges, bars and gratings of several frequencies: the same kind of
# atoms as the DCT, but fitted to the data.

# %%
learned = ksvd(X, n_atoms, k=k, n_iter=n_iter, seed=seed)
ax_a.imshow(tile(learned.dictionary), cmap="gray", interpolation="nearest")
ax_a.set_axis_off()
ax_a.set_title(f"A  K-SVD atoms (N = {n_atoms}, k = {k})")
print(f"K-SVD: RMSE {learned.rmse[0]:.5f} → {learned.rmse[-1]:.5f} in {n_iter} iterations, "
      f"{learned.time_coding.sum():.2f} s coding + {learned.time_update.sum():.2f} s updates")

# %% [markdown]
# ## B — training error per iteration: MOD, K-SVD, approximate K-SVD
# RMSE `‖X − ZD‖_F / √(n d)` after each iteration's update, from the same start. The dashed
# line is the overcomplete DCT with the same OMP (no learning).

# %%
runs = {"K-SVD": learned,
        "approx. K-SVD": ksvd(X, n_atoms, k=k, n_iter=n_iter, seed=seed, approximate=True),
        "MOD": mod(X, n_atoms, k=k, n_iter=n_iter, seed=seed)}
dct_rmse = float(np.sqrt((sparse_encode(X, overcomplete_dct(8, 256), n_nonzero_coefs=k)
                          .residual ** 2).mean()))
for name, res in runs.items():
    ax_b.plot(np.arange(1, n_iter + 1), res.rmse, "o-", ms=3, label=name)
ax_b.axhline(dct_rmse, color="0.5", ls="--", lw=1, label="DCT (256), no learning")
ax_b.set(xlabel="iteration", ylabel="RMSE", title="B  training error")
ax_b.legend(fontsize=6)
for name, res in runs.items():
    print(f"{name:14s} RMSE per iteration {np.round(res.rmse, 5)}  "
          f"update {res.time_update.sum():.2f} s")
print(f"overcomplete DCT, same OMP: RMSE {dct_rmse:.5f}")

# %% [markdown]
# ## C — the coding step: mplib's OMP against scikit-learn's
# One K-SVD iteration on `timing_patches` patches, the coding step by mplib's Batch-OMP and
# by scikit-learn's `orthogonal_mp_gram` (same Gram matrix, same codes). The benchmark
# `benchmarks/bench_ksvd.py` times the whole 40,000-patch, 10-iteration K-SVD.

# %%
Xt = X[:timing_patches]
one = {c: ksvd(Xt, n_atoms, k=k, n_iter=1, seed=seed, coder=c) for c in ("mplib", "sklearn")}
t_code = {c: float(r.time_coding[0]) for c, r in one.items()}
same = float(np.abs(one["mplib"].dictionary - one["sklearn"].dictionary).max())
ax_c.bar(["mplib", "sklearn"], [t_code["mplib"], t_code["sklearn"]], color=["C0", "C1"])
ax_c.set(ylabel="seconds", title=f"C  OMP step, ×{t_code['sklearn'] / t_code['mplib']:.0f}")
print(f"coding step on {len(Xt):,} patches: mplib {t_code['mplib']:.3f} s, scikit-learn "
      f"{t_code['sklearn']:.3f} s (×{t_code['sklearn'] / t_code['mplib']:.1f}); "
      f"max |ΔD| after the update {same:.1e}")

# %% [markdown]
# ## D — denoising: PSNR and wall time
# For each image (centre crop of side `crop`) and each σ: Gaussian noise, then four
# denoisers. **mplib K-SVD**: `denoise_atoms` atoms learned on `denoise_train` patches of the
# noisy image (from the DCT, `denoise_iter` iterations, error-constrained OMP), then every
# overlapping patch coded and averaged. **scikit-learn recipe**: the example "Image denoising
# using dictionary learning" — `MiniBatchDictionaryLearning` on the same number of patches,
# same atoms, then 2-atom OMP on every patch. **Wavelet**: `denoise_wavelet`, BayesShrink,
# the true σ. **TV**: `denoise_tv_chambolle`, weight chosen on the clean image among
# `f·σ` (an oracle, in TV's favour). PSNR = `10 log₁₀(1 / MSE)` for images in [0, 1].

# %%
table, outputs = [], {}
for name in denoise_images:
    clean = centre(images[name], crop)
    for s in sigmas:
        noisy = add_noise(clean, s / 255, seed=seed)
        rows = compare_denoisers(clean, noisy, sigma=s / 255, n_atoms=denoise_atoms,
                                 n_train=denoise_train, n_iter=denoise_iter,
                                 sklearn_iter=sklearn_epochs, seed=seed)
        outputs[name, s] = (clean, noisy, rows)
        table += [dict(image=name, sigma=s, method=r.method, psnr=r.psnr, seconds=r.seconds,
                       noisy_psnr=psnr(clean, noisy),
                       **{k_: v for k_, v in r.detail.items() if np.isscalar(v)})
                  for r in rows]
print(f"{'image':10s} {'σ':>3s} {'noisy':>6s}  " + "  ".join(f"{NAMES[m]:>22s}" for m in NAMES))
for (name, s), (clean, noisy, rows) in outputs.items():
    print(f"{name:10s} {s:3d} {psnr(clean, noisy):6.2f}  " + "  ".join(
        f"{r.psnr:8.2f} dB {r.seconds:7.2f} s" for r in rows))

# %% [markdown]
# ## E — the images
# `camera` at the largest σ: clean, noisy, then the outputs of mplib's K-SVD, scikit-learn's
# recipe and TV with their PSNR (top), and the same for the second image (bottom).

# %%
s_max = max(sigmas)
for row, name in enumerate(denoise_images[:2]):
    clean, noisy, rows = outputs[name, s_max]
    panels = [("clean", clean), (f"noisy {psnr(clean, noisy):.1f} dB", noisy)] + [
        (f"{NAMES[r.method].split(' (')[0]} {r.psnr:.1f} dB", r.image) for r in rows
        if r.method != "wavelet"]
    for ax, (title, img) in zip(ax_img[5 * row: 5 * row + 5], panels):
        ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=6)
        ax.set_axis_off()
ax_img[0].set_title(f"E  clean (σ = {s_max})", fontsize=6)
for ax in ax_img[5 * len(denoise_images[:2]):]:
    ax.set_axis_off()
plt.show()


# %% [markdown]
# **Play.** The overcomplete DCT needs no training: how does its denoising PSNR change with σ?
# (In JupyterLab the slider re-runs it on the centre of `camera`.)

# %%
def dct_denoise(sigma=25):
    clean = centre(images["camera"], 96)
    noisy = add_noise(clean, sigma / 255, seed=seed)
    out = denoise_image(noisy, overcomplete_dct(8, 256), sigma=sigma / 255)
    print(f"σ = {sigma}: noisy {psnr(clean, noisy):.2f} dB → DCT {psnr(clean, out.image):.2f} dB "
          f"({out.mean_atoms:.2f} atoms per patch)")
    return psnr(clean, out.image)


dct_psnr = explore(dct_denoise, sigma=Slider(int(max(sigmas)), 5, 50, 5))

# %% [markdown]
# ## What the numbers say

# %%
by = {(r["image"], r["sigma"], r["method"]): r["psnr"] for r in table}
first = denoise_images[0]
gap_sk = by[first, s_max, "mplib_ksvd"] - by[first, s_max, "sklearn_recipe"]
gap_tv = by[first, s_max, "mplib_ksvd"] - by[first, s_max, "tv"]
mono = bool(np.all(learned.rmse <= learned.rmse_coding + 1e-12))
full_scale = crop == 0 and denoise_train >= 40000 and denoise_atoms == 256
claims = [
    claim("ksvd_update_lowers_error", "each K-SVD dictionary update lowers (never raises) the "
          "error of the codes it starts from", paper_value="monotone (Aharon et al. Sec. IV)",
          ours=float((learned.rmse - learned.rmse_coding).max()), verdict=mono,
          note="largest change of RMSE across an update in panel A's run (<= 0 expected)"),
    claim("ksvd_beats_dct", "a learned dictionary represents natural patches better than the "
          "overcomplete DCT at equal k", paper_value="qualitative", ours=float(learned.rmse[-1]),
          verdict=bool(learned.rmse[-1] < dct_rmse), note=f"DCT RMSE {dct_rmse:.5f}"),
    claim("omp_speedup", "mplib's Batch-OMP makes K-SVD's coding step at least 5x faster than "
          "scikit-learn's orthogonal_mp_gram", paper_value=">= 5x (our target)",
          ours=t_code["sklearn"] / t_code["mplib"],
          verdict=t_code["sklearn"] / t_code["mplib"] >= 5,
          note=f"one coding step, {len(Xt):,} patches; same dictionary to {same:.0e}"),
    claim("denoise_vs_sklearn", f"at σ = {s_max} on {first}, mplib's K-SVD denoising is within "
          "0.3 dB of, or better than, scikit-learn's recipe at equal patch count",
          paper_value=">= -0.3 dB (our target)", ours=gap_sk,
          verdict=bool(gap_sk >= -0.3) if full_scale or preset != "smoke" else "not-testable",
          note="PSNR difference, dB" + ("" if full_scale else
                                         f"; crop {crop}, {denoise_train} patches, "
                                         f"{denoise_atoms} atoms (benchmark: whole image)")),
    claim("denoise_vs_tv", f"at σ = {s_max} on {first}, mplib's K-SVD denoising beats "
          "oracle-tuned TV", paper_value="> 0 dB (our target)", ours=gap_tv,
          verdict=bool(gap_tv > 0) if preset != "smoke" else "not-testable",
          note="PSNR difference, dB"),
]
print(format_claims(claims))

# %% [markdown]
# ## Save the figure and its numbers

# %%
results = {
    "ksvd": {"rmse": learned.rmse.tolist(), "rmse_coding": learned.rmse_coding.tolist(),
             "time_coding": learned.time_coding.tolist(),
             "time_update": learned.time_update.tolist()},
    "rmse_per_iteration": {name: res.rmse.tolist() for name, res in runs.items()},
    "dct_rmse": dct_rmse,
    "coding_step_seconds": t_code, "coding_step_patches": len(Xt),
    "coding_step_speedup": t_code["sklearn"] / t_code["mplib"], "max_abs_dict_diff": same,
    "denoising": table,
    "dct_denoise_psnr": dct_psnr,
    "claims": claims,
}
save_figure(fig, STEM, preset=preset, results=results, params=params, figure="teaching 4",
            paper="Aharon, Elad & Bruckstein 2006 (K-SVD); Elad & Aharon 2006 (denoising)")

# %% [markdown]
# ## Exercises
# Fill in each skeleton cell, then run the check under it; it says `pass` or `not yet` and
# why. (`solutions = True` in the parameters cell runs the answers.) They use a small problem:
# `Xe` (300 mean-removed patches) and the codes `Ze` that OMP gives on the dictionary `De`.

# %%
Xe = X[:300]
De = learned.dictionary[:64]
Ze = sparse_encode(Xe, De, n_nonzero_coefs=3).codes

# %% [markdown]
# **1. The MOD update.** Write `mod_update(X, Z)` returning the least-squares dictionary
# `(ZᵀZ)⁻¹ZᵀX` with each row scaled to unit norm (atoms as rows; every atom is used here).

# %% tags=["exercise-skeleton"]
def mod_update(X, Z):
    """Return the unit-norm least-squares dictionary for signals X and codes Z."""
    raise NotImplementedError("your code here")


# %% tags=["exercise-solution"]
if solutions:
    def mod_update(X, Z):
        """Return the unit-norm least-squares dictionary for signals X and codes Z."""
        D = np.linalg.lstsq(Z, X, rcond=None)[0]
        return D / np.linalg.norm(D, axis=1, keepdims=True)

# %% tags=["exercise-check"]
check("mod_update", lambda: mod_update(Xe, Ze),
      mod(Xe, 64, k=3, n_iter=1, init=De, seed=seed).dictionary, atol=1e-8,
      hint="np.linalg.lstsq(Z, X) solves min ‖X − Z D‖; then divide each row by its norm")

# %% [markdown]
# **2. The K-SVD atom update.** Write `rank1(E)` returning `(d, g)`: a unit vector `d` and
# coefficients `g` such that `outer(g, d)` is the best rank-1 approximation of the restricted
# residual `E` (shape `m × 64`). The check builds `E` for atom 0 of the small problem.

# %% tags=["exercise-skeleton"]
def rank1(E):
    """Return (d, g), unit d, minimising ‖E − outer(g, d)‖_F."""
    raise NotImplementedError("your code here")


# %% tags=["exercise-solution"]
if solutions:
    def rank1(E):
        """Return (d, g), unit d, minimising ‖E − outer(g, d)‖_F."""
        U, s, Vt = np.linalg.svd(E, full_matrices=False)
        return Vt[0], s[0] * U[:, 0]

# %% tags=["exercise-check"]
omega = np.flatnonzero(Ze[:, 0])
E0 = (Xe - Ze @ De)[omega] + np.outer(Ze[omega, 0], De[0])
best = float(np.sqrt((np.linalg.svd(E0, compute_uv=False)[1:] ** 2).sum()))


def rank1_ok(dg):
    d, g = (np.asarray(a, dtype=float) for a in dg)
    if d.shape != (E0.shape[1],) or g.shape != (E0.shape[0],):
        return f"shapes {d.shape}, {g.shape}; expected {(E0.shape[1],)}, {(E0.shape[0],)}"
    if not np.isclose(np.linalg.norm(d), 1, atol=1e-8):
        return f"‖d‖ = {np.linalg.norm(d):.4f}, expected 1"
    err = float(np.linalg.norm(E0 - np.outer(g, d)))
    return None if err <= best + 1e-8 else f"‖E − g dᵀ‖ = {err:.4f}, the best is {best:.4f}"


Exercise("rank1", rank1_ok, hint="the top singular pair: U, s, Vt = np.linalg.svd(E)")(
    lambda: rank1(E0))

# %% [markdown]
# **3. PSNR.** Write `psnr_db(clean, estimate)` for images in [0, 1]:
# `10 log₁₀(1 / MSE)`, in dB.

# %% tags=["exercise-skeleton"]
def psnr_db(clean, estimate):
    """Return the PSNR in dB of estimate against clean (peak 1)."""
    return None  # your code here


# %% tags=["exercise-solution"]
if solutions:
    def psnr_db(clean, estimate):
        """Return the PSNR in dB of estimate against clean (peak 1)."""
        return 10 * np.log10(1.0 / np.mean((clean - estimate) ** 2))

# %% tags=["exercise-check"]
clean_e, noisy_e, _ = outputs[denoise_images[0], s_max]
check("psnr_db", lambda: psnr_db(clean_e, noisy_e), psnr(clean_e, noisy_e), atol=1e-9,
      hint="np.mean of the squared difference, then 10 * np.log10(1 / mse)")
