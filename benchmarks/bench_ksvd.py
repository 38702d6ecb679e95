"""K-SVD with mplib's OMP against the same K-SVD with scikit-learn's OMP; a denoising table.

1. K-SVD, 256 atoms, 40,000 mean-removed 8×8 patches of scikit-image's ``camera`` and
   ``astronaut`` (grey), k = 5, 10 iterations, fp64, the same seed and initial dictionary:
   the coding step by :func:`mplib.pursuit.sparse_encode` (Gram-space Batch-OMP) against
   scikit-learn's ``orthogonal_mp_gram`` on the same Gram matrix; the atom updates are the
   same code. Prints both wall times (coding and update apart), the ratio, and the largest
   difference between the two learned dictionaries.
2. Denoising, σ ∈ {15, 25} (grey levels of 8 bits) on ``camera`` and ``astronaut``: PSNR and
   wall time of mplib's K-SVD denoising (Elad & Aharon 2006: dictionary learned on 40,000
   patches of the noisy image, error-constrained OMP, overlaps averaged), scikit-learn's
   recipe at the same patch count and atoms (``MiniBatchDictionaryLearning`` + 2-atom OMP
   transform), ``denoise_wavelet`` (BayesShrink) and ``denoise_tv_chambolle`` (weight tuned on
   the clean image: an oracle in TV's favour).

Usage: ``python benchmarks/bench_ksvd.py [--skip-ksvd] [--skip-denoise] [--sklearn-epochs 1]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from mplib.datasets import load_images, sample_patches
from mplib.dictionary import add_noise, compare_denoisers, ksvd, psnr


def bench_ksvd(n_patches: int, n_atoms: int, k: int, n_iter: int) -> None:
    images = load_images(("camera", "astronaut"))
    X = sample_patches(images, patch_size=8, n_patches=n_patches, seed=0)
    X = X - X.mean(1, keepdims=True)
    runs = {}
    for coder in ("mplib", "sklearn"):
        t0 = time.perf_counter()
        runs[coder] = ksvd(X, n_atoms, k=k, n_iter=n_iter, seed=0, coder=coder)
        runs[coder] = (runs[coder], time.perf_counter() - t0)
    (ours, t_ours), (sk, t_sk) = runs["mplib"], runs["sklearn"]
    print(f"K-SVD {n_atoms} atoms, {n_patches:,} patches 8x8, k={k}, {n_iter} iterations, fp64")
    for name, (res, total) in runs.items():
        print(f"  {name:8s} OMP  total {total:7.2f} s   coding {res.time_coding.sum():7.2f} s   "
              f"update {res.time_update.sum():6.2f} s   final RMSE {res.rmse[-1]:.5f}")
    print(f"  speed-up (whole K-SVD)     {t_sk / t_ours:6.1f}x   (target >= 5x)")
    print(f"  speed-up (coding step)     {sk.time_coding.sum() / ours.time_coding.sum():6.1f}x")
    print(f"  max |D_mplib - D_sklearn|  {np.abs(ours.dictionary - sk.dictionary).max():.2e}")


def bench_denoise(sigmas, names, n_train: int, n_iter: int, sklearn_epochs: int) -> None:
    images = load_images(tuple(names))
    print(f"\nDenoising, 256 atoms, {n_train:,} training patches 8x8 (both learned methods), "
          f"K-SVD {n_iter} iterations, scikit-learn {sklearn_epochs} epoch(s)")
    print(f"  {'image':10s} {'sigma':>5s} {'noisy':>6s} {'mplib':>13s} {'sklearn':>13s} "
          f"{'wavelet':>12s} {'TV':>12s}   mplib-sklearn  mplib-TV")
    for name in names:
        clean = images[name]
        for sigma in sigmas:
            noisy = add_noise(clean, sigma / 255, seed=0)
            rows = {r.method: r for r in compare_denoisers(
                clean, noisy, sigma=sigma / 255, n_train=n_train, n_iter=n_iter,
                sklearn_iter=sklearn_epochs, seed=0)}
            cells = " ".join(f"{rows[m].psnr:6.2f}/{rows[m].seconds:5.1f}s"
                             for m in ("mplib_ksvd", "sklearn_recipe", "wavelet", "tv"))
            print(f"  {name:10s} {sigma:5d} {psnr(clean, noisy):6.2f} {cells}   "
                  f"{rows['mplib_ksvd'].psnr - rows['sklearn_recipe'].psnr:+8.2f} dB "
                  f"{rows['mplib_ksvd'].psnr - rows['tv'].psnr:+8.2f} dB", flush=True)
    print("  (PSNR dB / wall time; targets at sigma=25 on camera: mplib >= sklearn - 0.3 dB, "
          "mplib > TV)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patches", type=int, default=40_000)
    ap.add_argument("--atoms", type=int, default=256)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--sigmas", type=int, nargs="+", default=[15, 25])
    ap.add_argument("--images", nargs="+", default=["camera", "astronaut"])
    ap.add_argument("--sklearn-epochs", type=int, default=1,
                    help="MiniBatchDictionaryLearning max_iter (each epoch is 200 batches)")
    ap.add_argument("--skip-ksvd", action="store_true")
    ap.add_argument("--skip-denoise", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} CPUs"
          + ("  (busy machine: absolute times are inflated; ratios are side by side)"
             if load > 0.5 * (os.cpu_count() or 1) else ""))
    if not args.skip_ksvd:
        bench_ksvd(args.patches, args.atoms, args.k, args.iters)
    if not args.skip_denoise:
        bench_denoise(args.sigmas, args.images, args.patches, args.iters, args.sklearn_epochs)


if __name__ == "__main__":
    main()
