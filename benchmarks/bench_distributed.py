"""Speed-up of data-parallel SAE training: torchrun with 2 gloo processes against 1 process.

Both train the same MP-SAE (and TopK SAE) on the same global batches for the same number of
steps, each process with one torch thread, so the comparison is "one core" against "two cores
through torch.distributed". Prints steps/s of each and the ratio; the start-up of the process
group is excluded (the timer starts at the first step's callback).

    python benchmarks/bench_distributed.py [--steps 60] [--d 256] [--width 4096] [--k 16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    import torch
    torch.set_num_threads(1)
    from mplib.sae import MPSAE, TopKSAE, TrainConfig
    from mplib.sae.distributed import train_distributed

    kind, steps, d, width, k, batch, out = sys.argv[1:8]
    steps, d, width, k, batch = map(int, (steps, d, width, k, batch))
    g = torch.Generator().manual_seed(0)
    X = torch.randn(batch * 8, d, generator=g)
    model = (MPSAE(d, width, k=k, threshold=None, stop_on_unchanged_support=False, seed=0)
             if kind == "mp" else TopKSAE(d, width, k=k, seed=0))
    marks = []
    def tick(step, model, output):
        if step in (4, steps - 1):   # five warm-up steps, then time the rest
            marks.append(time.perf_counter())
    train_distributed(model, X, TrainConfig(n_steps=steps, batch_size=batch, progress=False),
                      callback=tick, backend="gloo")
    if int(os.environ.get("RANK", "0")) == 0:
        json.dump({"steps_per_s": (steps - 5) / (marks[1] - marks[0])}, open(out, "w"))
    """
)


def run(kind: str, procs: int, args, tmp: Path) -> float:
    script, out = tmp / "train.py", tmp / f"{kind}-{procs}.json"
    script.write_text(SCRIPT)
    extra = [kind, str(args.steps), str(args.d), str(args.width), str(args.k), str(args.batch),
             str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    if procs == 1:
        cmd = [sys.executable, str(script), *extra]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(procs), str(script), *extra]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    return json.loads(out.read_text())["steps_per_s"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--batch", type=int, default=2048, help="global batch")
    args = ap.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("mp", "topk"):
            one = run(kind, 1, args, Path(tmp))
            two = run(kind, 2, args, Path(tmp))
            print(f"{kind:5s} d={args.d} width={args.width} k={args.k} batch={args.batch}: "
                  f"1 process {one:.2f} steps/s, 2 processes {two:.2f} steps/s, "
                  f"speed-up {two / one:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
