"""SAE training speed: our MP-SAE against a dense one-hot MP encoder, and toy sweeps.

Part ``mp``: training steps per second and memory of :class:`mplib.sae.MPSAE` (fixed k, signed
selection: selection without gradient, only the selected atoms gathered with gradient) against
a dense one-hot matching-pursuit encoder of the kind ``overcomplete``'s ``MpSAE`` uses, written
here from its description: per step ``c = r Dᵀ`` with gradient, one-hot codes, ``r -= z_t D``,
i.e. two dense (B×N)·(N×d) products per pursuit step. Same sizes, same dictionary, same codes,
fp32, timed side by side (alternating) in one process. Memory: the bytes autograd keeps for
the backward pass (exact) and the peak resident-memory increase of one training step, each
method in a fresh subprocess (CPU) or ``max_memory_allocated`` (CUDA).

Part ``sweep``: 20-latent toy SAEs (the MP-SAE paper's recipe, ``ToyStream`` data, batch 200),
steps per second of one batched model of M runs (M = 1, 50, 200) and models per minute at
15,000 steps, extrapolated from a window of steps (stated in the output) after a short
untimed warm start; the one-at-a-time number is the M = 1 row.

Run::

    .venv/bin/python benchmarks/bench_sae.py                 # both parts, paper sizes
    .venv/bin/python benchmarks/bench_sae.py --part mp --size small
    .venv/bin/python benchmarks/bench_sae.py --part sweep --steps 100 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import torch
from torch import nn
from torch.autograd.graph import saved_tensors_hooks

from mplib.datasets import ToySpec, ToyStream
from mplib.repro import show_versions
from mplib.sae import MPSAE, BatchTopKSAE, MatryoshkaSAE, TrainConfig, train

SIZES = {"paper": dict(d=576, n=16384, k=32, b=1024), "small": dict(d=128, n=2048, k=16, b=256)}


class DenseOneHotMP(nn.Module):
    """Tied MP encoder with dense one-hot codes (the overcomplete-style baseline)."""

    def __init__(self, D: torch.Tensor):
        super().__init__()
        self.D = nn.Parameter(D.clone())

    def forward(self, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        r, z = x, torch.zeros(x.shape[0], self.D.shape[0], dtype=x.dtype, device=x.device)
        for _ in range(k):
            c = r @ self.D.T  # dense product 1, kept for the backward pass
            j = c.argmax(-1, keepdim=True)  # signed max, as overcomplete
            z_t = torch.zeros_like(c).scatter(-1, j, c.gather(-1, j))
            z = z + z_t
            r = r - z_t @ self.D  # dense product 2
        return z, z @ self.D


def _ours(D: torch.Tensor, k: int) -> MPSAE:
    model = MPSAE(D.shape[1], D.shape[0], k=k, threshold=None, stop_on_unchanged_support=False,
                  selection="signed", coefficient="projection", reduction="mean",
                  device=D.device)
    with torch.no_grad():
        model.W.copy_(D[None])
    return model


def _problem(size: str, device: str):
    s = SIZES[size]
    g = torch.Generator().manual_seed(0)
    D = torch.randn(s["n"], s["d"], generator=g)
    D = (D / D.norm(dim=-1, keepdim=True)).to(device)
    x = torch.randn(s["b"], s["d"], generator=g).to(device)
    return D, x, s["k"]


def _steppers(D, x, k):
    ours, dense = _ours(D, k), DenseOneHotMP(D)
    opt_o = torch.optim.Adam(ours.parameters(), lr=1e-4)
    opt_d = torch.optim.Adam(dense.parameters(), lr=1e-4)

    def step_ours():
        opt_o.zero_grad()
        ours.training_step(x, 0, 1).loss.backward()
        opt_o.step()

    def step_dense():
        opt_d.zero_grad()
        z, x_hat = dense(x, k)
        ((x - x_hat) ** 2).mean().backward()
        opt_d.step()

    return ours, dense, step_ours, step_dense


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _saved_bytes(fn) -> int:
    """Bytes of the distinct storages autograd keeps for the backward pass of ``fn()``."""
    seen: dict[int, int] = {}

    def pack(t):
        st = t.untyped_storage()
        seen[st.data_ptr()] = st.nbytes()
        return t

    with saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _sampled_peak(fn) -> int:
    """Run ``fn`` while a thread samples the resident size every millisecond; return the max."""
    peak, stop = [_rss()], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(1e-3)

    th = threading.Thread(target=sample)
    th.start()
    try:
        fn()
    finally:
        stop.set()
        th.join()
    return max(peak[0], _rss())


def memory_child(which: str, size: str, device: str) -> None:
    """Run one training step of one method and print its memory figures (JSON).

    The step is the first work of a fresh process; CPU: the largest resident size sampled
    during the step minus the size before it; CUDA: the growth of the peak allocation. Both
    include Adam's state, allocated by this first step.
    """
    D, x, k = _problem(size, device)
    ours, dense, step_o, step_d = _steppers(D, x, k)
    step = step_o if which == "ours" else step_d
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        _sync(device)
        peak = torch.cuda.max_memory_allocated() - base
    else:
        base = _rss()
        peak = _sampled_peak(step) - base
    if which == "ours":
        saved = _saved_bytes(lambda: ours.training_step(x, 0, 1))
    else:
        saved = _saved_bytes(lambda: dense(x, k))
    print(json.dumps({"saved": saved, "peak": max(peak, 0)}))


def bench_mp(size: str, rounds: int, device: str) -> dict:
    D, x, k = _problem(size, device)
    ours, dense, step_o, step_d = _steppers(D, x, k)
    with torch.no_grad():  # same dictionary, same codes: the comparison is like for like
        z_dense, _ = dense(x, k)
        z_ours = ours.encode(x)
    agree = float((z_dense != 0).eq(z_ours != 0).float().mean())
    err = float((z_dense - z_ours).abs().max())
    step_o(), step_d()  # warm-up
    times = {"ours": [], "dense": []}
    for _ in range(rounds):
        for name, fn in (("ours", step_o), ("dense", step_d)):
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t)
    mem = {}
    for which in ("ours", "dense"):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-of", which, "--size", size, "--device", device,
             "--threads", str(torch.get_num_threads())],
            capture_output=True, text=True, check=True,
        )
        mem[which] = json.loads(out.stdout.strip().splitlines()[-1])
    med = {n: statistics.median(v) for n, v in times.items()}
    return {"size": SIZES[size], "support_agreement": agree, "max_code_diff": err,
            "s_per_step": med, "speedup": med["dense"] / med["ours"], "memory": mem}


MODELS = {
    "MP-SAE (toy)": lambda m, seeds: MPSAE(20, 20, n_models=m, seed=seeds),
    "Vanilla": lambda m, seeds: MatryoshkaSAE(20, 20, n_prefixes=1, permute_latents=False,
                                              n_models=m, seed=seeds),
    "Matryoshka": lambda m, seeds: MatryoshkaSAE(20, 20, n_models=m, seed=seeds),
    "BatchTopK": lambda m, seeds: BatchTopKSAE(20, 20, n_models=m, seed=seeds),
}


def bench_sweep(runs: list[int], steps: int, warm: int) -> list[dict]:
    rows = []
    spec = ToySpec("mpsae", 0.3)
    for m in runs:
        seeds = list(range(m))
        stream = ToyStream(spec, seeds, batch_size=200)
        next(stream)
        t = time.perf_counter()
        for _ in range(steps):
            next(stream)
        data_s = (time.perf_counter() - t) / steps
        for name, make in MODELS.items():
            model = make(m if m > 1 else None, seeds if m > 1 else 0)
            stream = ToyStream(spec, seeds, batch_size=200)
            stamps = {}

            def clock(step, model, out, stamps=stamps):
                if step + 1 in (warm, warm + steps):
                    stamps[step + 1] = time.perf_counter()

            # one toy-recipe run (Adam, clipping, WSD); only the steps after the warm start
            # are timed
            train(model, stream, TrainConfig(n_steps=warm + steps, progress=False,
                                             log_every=10**6), callback=clock)
            per_step = (stamps[warm + steps] - stamps[warm]) / steps
            rows.append({"model": name, "runs": m, "steps_per_s": 1 / per_step,
                         "us_per_model_step": per_step / m * 1e6,
                         "models_per_min": 60 * m / (15_000 * per_step),
                         "data_us_per_model_step": data_s / m * 1e6})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["mp", "sweep", "all"], default="all")
    ap.add_argument("--size", choices=sorted(SIZES), default="paper")
    ap.add_argument("--rounds", type=int, default=2, help="timed steps per method (part mp)")
    ap.add_argument("--runs", type=int, nargs="+", default=[1, 50, 200])
    ap.add_argument("--steps", type=int, default=100, help="timed steps (part sweep)")
    ap.add_argument("--warm", type=int, default=50, help="untimed warm-start steps (sweep)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--memory-of", choices=["ours", "dense"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_of:
        memory_child(args.memory_of, args.size, args.device)
        return
    show_versions()
    print(f"threads: {args.threads}, device: {args.device}")
    if args.part in ("mp", "all"):
        r = bench_mp(args.size, args.rounds, args.device)
        s = r["size"]
        print(f"\n== MP-SAE vs dense one-hot MP: d={s['d']} N={s['n']} k={s['k']} "
              f"B={s['b']} fp32 (median of {args.rounds} steps each, alternating)")
        print(f"same codes: support agreement {r['support_agreement']:.4f}, "
              f"max |Δcode| {r['max_code_diff']:.1e}")
        print(f"{'method':<22}{'s/step':>9}{'steps/s':>9}{'saved for bwd':>15}{'peak Δ':>10}")
        for name, label in (("ours", "mplib MPSAE"), ("dense", "dense one-hot MP")):
            m = r["memory"][name]
            print(f"{label:<22}{r['s_per_step'][name]:>9.3f}{1 / r['s_per_step'][name]:>9.3f}"
                  f"{m['saved'] / 2**20:>12.0f} MiB{m['peak'] / 2**20:>7.0f} MiB")
        mo, md = r["memory"]["ours"], r["memory"]["dense"]
        saved = md["saved"] / max(mo["saved"], 1)
        peak = md["peak"] / max(mo["peak"], 1)
        print(f"ratio dense/ours: time {r['speedup']:.2f}x, saved memory {saved:.1f}x, "
              f"peak {peak:.1f}x")
    if args.part in ("sweep", "all"):
        rows = bench_sweep(args.runs, args.steps, args.warm)
        print(f"\n== toy sweep: 20 latents, batch 200, steps {args.warm}-{args.warm + args.steps}"
              f" of the 15k schedule timed, extrapolated to 15,000 steps (data included)")
        print(f"{'model':<14}{'runs':>6}{'steps/s':>10}{'µs/model-step':>15}{'models/min':>12}"
              f"{'data µs/model-step':>20}")
        for row in rows:
            print(f"{row['model']:<14}{row['runs']:>6}{row['steps_per_s']:>10.1f}"
                  f"{row['us_per_model_step']:>15.0f}{row['models_per_min']:>12.2f}"
                  f"{row['data_us_per_model_step']:>20.0f}")


if __name__ == "__main__":
    main()
