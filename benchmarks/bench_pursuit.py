"""Speed of mplib's pursuit solvers against scikit-learn and SPAMS, side by side in one process.

Part 1 — OMP, fp64, random unit-norm dictionaries (atoms as rows) and Gaussian signals, for
(d × N, S, B) = 256×1024/32/5000, 64×256/8/20000, 512×2048/64/2000: signals/s of
``mplib.pursuit.sparse_encode`` (automatic regime: the compiled Gram kernel on CPU) and SPAMS'
``omp`` (PyPI ``spams-bin``, same thread count; skipped if not installed) timed in turns, best
and median of ``--repeats`` runs; the batched torch Gram kernel (what runs without numba) and
the residual regime; scikit-learn's ``orthogonal_mp_gram`` (timed on a subset: it runs at a
few hundred signals/s); ratios, and the share of signals whose support equals scikit-learn's
(on scikit-learn's subset). The first call of each size is timed apart (it loads the compiled
kernel from numba's on-disk cache, or compiles it once per installation).

Part 2 — SAE scale, 576 × 16384, S = 64, fp32: achieved GFLOP/s of MP and of residual-regime
OMP against this machine's measured matmul GFLOP/s for the same correlation product
(flops counted: 2·B·d·N per step for the correlations, plus 8·B·d·k for OMP's Gram–Schmidt).

Targets: OMP >= 2× SPAMS on 256×1024/32/5000 with >= 99.9 % of supports equal to
scikit-learn's; MP >= 50 % of the matmul roofline.

Usage::

    .venv/bin/python benchmarks/bench_pursuit.py            # full sizes (~2 minutes)
    .venv/bin/python benchmarks/bench_pursuit.py --quick    # small batches, a few seconds
    .venv/bin/python benchmarks/bench_pursuit.py --threads 2 --omp-only --repeats 9

Timings on a loaded machine are meaningless: the script prints the load average first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
import warnings

import numpy as np
import torch
from sklearn.linear_model import orthogonal_mp_gram

from mplib.pursuit import _omp_gram_cpu, sparse_encode

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
    return spams.omp(Xf, Df, L=S, numThreads=torch.get_num_threads())


@contextlib.contextmanager
def torch_kernel():
    """The batched torch Gram kernel instead of the compiled one (as without numba)."""
    before = _omp_gram_cpu.AVAILABLE
    _omp_gram_cpu.AVAILABLE = False
    try:
        yield
    finally:
        _omp_gram_cpu.AVAILABLE = before


def interleaved(fns, repeats):
    """Wall times of each function, ``repeats`` rounds, the functions taking turns."""
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def bench_omp(quick, repeats):
    print(f"\n== OMP, fp64, {torch.get_num_threads()} threads (signals/s, best of {repeats} "
          "taking turns with SPAMS, median in brackets; ratios from this run: best/best and "
          "median/median; residual regime timed on <= 1000 signals, scikit-learn on a subset; "
          f"compiled kernel {'on' if _omp_gram_cpu.AVAILABLE else 'OFF (numba missing)'}) ==")
    head = (f"{'d x N, S, B':<20}{'mplib':>18}{'torch kernel':>13}{'residual':>10}"
            f"{'sklearn':>9}{'SPAMS':>18}{'x sklearn':>10}{'x SPAMS':>12}{'same supp':>11}")
    print(head)
    for d, N, S, B in OMP_CASES:
        omp_case(d, N, S, max(200, B // 10) if quick else B, quick, repeats)
    if spams is None:
        print("(SPAMS not installed: pip install spams-bin)")


def omp_case(d, N, S, B, quick, repeats):
    X, D = problem(d, N, B, seed=d)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    t0 = time.perf_counter()
    ours = sparse_encode(Xt, Dt, n_nonzero_coefs=S)  # first call: loads the compiled kernel
    first = time.perf_counter() - t0
    fns = {"mplib": lambda: sparse_encode(Xt, Dt, n_nonzero_coefs=S)}
    if spams is not None:
        fns["spams"] = lambda: spams_omp(X, D, S)
    times = interleaved(fns, repeats)
    with torch_kernel():
        t_torch = min(interleaved({"t": lambda: sparse_encode(
            Xt, Dt, n_nonzero_coefs=S, regime="gram")}, max(1, repeats // 2))["t"])
    n_res = min(B, 1000)
    t_res = min(interleaved({"r": lambda: sparse_encode(
        Xt[:n_res], Dt, n_nonzero_coefs=S, regime="residual")}, 1)["r"])
    n_sk = min(B, SKLEARN_SUBSET[N] // (5 if quick else 1))
    t_sk, sk = best_time(lambda: sklearn_omp(X[:n_sk], D, S), 1)
    same = ((ours.codes[:n_sk].numpy() != 0) == (sk != 0)).all(1).mean()
    best = {k: B / min(v) for k, v in times.items()}
    med = {k: B / float(np.median(v)) for k, v in times.items()}
    sk_rate = n_sk / t_sk
    if "spams" in best:
        sp = f"{best['spams']:>9.0f} ({med['spams']:>6.0f})"
        ratio = f"{best['mplib'] / best['spams']:>6.2f}/{med['mplib'] / med['spams']:.2f}"
    else:
        sp, ratio = f"{'-':>18}", f"{'-':>12}"
    print(f"{f'{d}x{N}, {S}, {B}':<20}{best['mplib']:>9.0f} ({med['mplib']:>6.0f})"
          f"{B / t_torch:>13.0f}{n_res / t_res:>10.0f}{sk_rate:>9.0f}{sp}"
          f"{best['mplib'] / sk_rate:>10.1f}{ratio:>12}{100 * same:>10.2f}%"
          f"   (first call {first:.2f} s)")


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
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for mplib and SPAMS (default: torch's default)")
    parser.add_argument("--omp-only", action="store_true", help="skip the SAE-scale part")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (2 if args.quick else 5)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {load:.2f}"
          + ("  (machine busy: timings unreliable)" if load > 0.5 * (os.cpu_count() or 1) else ""))
    bench_omp(args.quick, repeats)
    if not args.omp_only:
        bench_sae(args.quick, repeats)


if __name__ == "__main__":
    main()
