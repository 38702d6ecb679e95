"""Speed of the synthetic-hierarchy generator.

Prints the time to draw 10⁶ samples with ``hierarchical_toy`` (median of 5) and, as the
anchor, a per-sample recursive sampler written like the authors' ``Tree.sample`` (timed on
20,000 samples and scaled), both in this process.

Usage: ``python benchmarks/bench_datasets.py [--n 1000000]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from mplib.datasets import hierarchical_toy, mpsae_tree


def recursive_sample(node, rnd, forced=None, out=None):
    """One sample, recursively, in the style of the authors' sampler (the anchor)."""
    out = [] if out is None else out
    active = forced if forced is not None else rnd.random() < node["active_prob"]
    if node.get("is_read_out", True):
        out.append(float(active) * (1.5 + 0.25 * rnd.gauss(0, 1)))
    kids = node.get("children", [])
    excl = node.get("mutually_exclusive_children", False)
    chosen = rnd.choices(range(len(kids)), [k["active_prob"] for k in kids])[0] if (
        excl and active) else None
    for i, kid in enumerate(kids):
        recursive_sample(kid, rnd, False if not active else (i == chosen) if excl else None, out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    hierarchical_toy(1000, seed=0)  # warm-up
    times = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        hierarchical_toy(args.n, within_level_cosine=0.3, seed=r)
        times.append(time.perf_counter() - t0)
    ours = statistics.median(times)

    tree = mpsae_tree().to_dict()
    rnd = random.Random(0)
    n_ref = 20_000
    t0 = time.perf_counter()
    for _ in range(n_ref):
        recursive_sample(tree, rnd)
    ref = (time.perf_counter() - t0) * args.n / n_ref

    print(f"hierarchical_toy, {args.n:,} samples (20 features), {torch.get_num_threads()} threads")
    print(f"  mplib (vectorised)        median {ours:7.3f} s   (min {min(times):.3f}, "
          f"max {max(times):.3f}, {args.repeats} runs)")
    print(f"  per-sample recursive      ~{ref:7.1f} s   (timed on {n_ref:,}, scaled)")
    print(f"  speed-up                  {ref / ours:7.0f}x")


if __name__ == "__main__":
    main()
