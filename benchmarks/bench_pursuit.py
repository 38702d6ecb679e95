"""Speed of mplib's pursuit solvers against scikit-learn and SPAMS, side by side in one process.

Part 1 — OMP, fp64, random unit-norm dictionaries (atoms as rows) and Gaussian signals, for
(d × N, S, B) = 256×1024/32/5000, 64×256/8/20000, 512×2048/64/2000: signals/s of
``mplib.pursuit.sparse_encode`` (automatic regime, then each regime), scikit-learn's
``orthogonal_mp_gram`` (timed on a subset: it runs at a few hundred signals/s) and SPAMS'
``omp`` (PyPI ``spams-bin``; skipped if not installed), with ratios, and the share of signals
whose support equals scikit-learn's (on scikit-learn's subset).

Part 2 — SAE scale, 576 × 16384, S = 64, fp32: achieved GFLOP/s of MP and of residual-regime
OMP against this machine's measured matmul GFLOP/s for the same correlation product
(flops counted: 2·B·d·N per step for the correlations, plus 8·B·d·k for OMP's Gram–Schmidt).

Targets (issue #3): OMP >= 2× SPAMS on 256×1024/32/5000 with >= 99.9 % of supports equal to
scikit-learn's; MP >= 50 % of the matmul roofline.

Usage::

    .venv/bin/python benchmarks/bench_pursuit.py            # full sizes (~2 minutes)
    .venv/bin/python benchmarks/bench_pursuit.py --quick    # small batches, a few seconds

Timings on a loaded machine are meaningless: the script prints the load average first.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch
from sklearn.linear_model import orthogonal_mp_gram

from mplib.pursuit import sparse_encode

try:
    import spams
except ImportError:  # pragma: no cover - optional anchor
    spams = None

OMP_CASES = [(256, 1024, 32, 5000), (64, 256, 8, 20000), (512, 2048, 64, 2000)]
SKLEARN_SUBSET = {1024: 1000, 256: 2000, 2048: 200}


def best_time(fn, repeats):
    """Best wall time of ``repeats`` calls (first call included: no hidden warm-up)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def problem(d, N, B, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((N, d))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((B, d))
    return X.astype(dtype), D.astype(dtype)


def sklearn_omp(X, D, S):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return orthogonal_mp_gram(D @ D.T, D @ X.T, n_nonzero_coefs=S).T


def spams_omp(X, D, S):
    Xf = np.asfortranarray(X.T)
    Df = np.asfortranarray(D.T)
    return spams.omp(Xf, Df, L=S, numThreads=-1)


def bench_omp(quick, repeats):
    print("\n== OMP, fp64 (signals/s; ratios from this run; residual regime timed on <= 1000 "
          "signals, scikit-learn on a subset) ==")
    head = (f"{'d x N, S, B':<22}{'mplib auto':>12}{'gram':>10}{'residual':>10}"
            f"{'sklearn':>10}{'SPAMS':>10}{'x sklearn':>10}{'x SPAMS':>9}{'same supp':>11}")
    print(head)
    for d, N, S, B in OMP_CASES:
        omp_case(d, N, S, max(200, B // 10) if quick else B, quick, repeats)
    if spams is None:
        print("(SPAMS not installed: pip install spams-bin)")


def omp_case(d, N, S, B, quick, repeats):
    X, D = problem(d, N, B, seed=d)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    t_auto, ours = best_time(lambda: sparse_encode(Xt, Dt, n_nonzero_coefs=S), repeats)
    t_gram, _ = best_time(
        lambda: sparse_encode(Xt, Dt, n_nonzero_coefs=S, regime="gram"), repeats)
    n_res = min(B, 1000)
    t_res, _ = best_time(
        lambda: sparse_encode(Xt[:n_res], Dt, n_nonzero_coefs=S, regime="residual"), repeats)
    n_sk = min(B, SKLEARN_SUBSET[N] // (5 if quick else 1))
    t_sk, sk = best_time(lambda: sklearn_omp(X[:n_sk], D, S), 1)
    same = ((ours.codes[:n_sk].numpy() != 0) == (sk != 0)).all(1).mean()
    rate = {"auto": B / t_auto, "gram": B / t_gram, "res": n_res / t_res,
            "sk": n_sk / t_sk}
    if spams is not None:
        t_sp, _ = best_time(lambda: spams_omp(X, D, S), repeats)
        rate["spams"] = B / t_sp
    sp = rate.get("spams", float("nan"))
    print(f"{f'{d}x{N}, {S}, {B}':<22}{rate['auto']:>12.0f}{rate['gram']:>10.0f}"
          f"{rate['res']:>10.0f}{rate['sk']:>10.0f}{sp:>10.0f}"
          f"{rate['auto'] / rate['sk']:>10.1f}{rate['auto'] / sp:>9.2f}{100 * same:>10.2f}%")


def bench_sae(quick, repeats):
    d, N, S = 576, 16384, 64
    B = 256 if quick else 1024
    print(f"\n== SAE scale, fp32, {d} x {N}, S = {S}, B = {B} (GFLOP/s; the matmul roofline "
          "is measured right before and after each run, the higher one counts) ==")
    X, D = problem(d, N, B, seed=1, dtype=np.float32)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    mm_flops = 2 * B * d * N

    def roofline():
        t, _ = best_time(lambda: Xt @ Dt.T, 2)
        return mm_flops / t / 1e9

    runs = {
        "MP": (lambda: sparse_encode(Xt, Dt, algorithm="mp", n_nonzero_coefs=S,
                                     return_sparse=True), S * mm_flops),
        "OMP, residual regime": (lambda: sparse_encode(Xt, Dt, n_nonzero_coefs=S,
                                                       regime="residual", return_sparse=True),
                                 S * mm_flops + 4 * B * d * S * S),
    }
    for name, (fn, flops) in runs.items():
        before = roofline()
        t, _ = best_time(fn, repeats)
        roof = max(before, roofline())
        g = flops / t / 1e9
        print(f"{name:<22}{g:>8.1f} GFLOP/s  matmul {roof:>6.1f} GFLOP/s  "
              f"{100 * g / roof:5.1f} % of matmul  ({B / t:.0f} signals/s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small batches, a few seconds")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (best of)")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 3)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {load:.2f}"
          + ("  (machine busy: timings unreliable)" if load > 0.5 * (os.cpu_count() or 1) else ""))
    bench_omp(args.quick, repeats)
    bench_sae(args.quick, repeats)


if __name__ == "__main__":
    main()
