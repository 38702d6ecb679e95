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

Part ``kernel``: a proposal for :func:`mplib.pursuit.mp_loop` (the library does not use it):
the toy MP-SAE's forward+backward with ``mp_loop`` against a compacted, Gram-space kernel with
an analytic backward pass (:class:`_CompactMP`), checked equal in float64 first.

Part ``scale``: the real-data scale, d = 576, p = 2,304 and 14,400, k = 32, B = 4,096, fp32:
one Adam training step of :class:`mplib.sae.MPSAE` (tied, k steps, signed selection, raw
correlation: the semantics of ``overcomplete``'s ``MpSAE``) against ``overcomplete.sae.MpSAE``
0.3.0 (its ``encode``: ``k`` dense steps ``z = r Wᵀ``, signed max, one-hot codes,
``r -= z_t W``, all with gradient; atoms renormalised in every training forward) and against
mplib's :class:`~mplib.sae.TopKSAE` at the same k and batch; plain MSE for all three. Equal
codes are checked first on 256 signals with the same unit dictionary. overcomplete is loaded
without running ``overcomplete/__init__.py`` (which imports torchvision): a bare package module
whose ``__path__`` is the installed folder is registered first. Where its step would not fit in
memory (p = 14,400: ~15 GB kept for the backward pass) it runs as micro-batches with gradient
accumulation, the same update. Memory: the largest resident set (``/proc/self/statm``, sampled
every millisecond) of a fresh process during one step (Adam's first step included) minus its
size before the step (overcomplete in micro-batches: one micro-batch).

Run::

    .venv/bin/python benchmarks/bench_sae.py                 # both parts, paper sizes
    .venv/bin/python benchmarks/bench_sae.py --part mp --size small
    .venv/bin/python benchmarks/bench_sae.py --part sweep --steps 100 --threads 1
    .venv/bin/python benchmarks/bench_sae.py --part scale      # needs overcomplete==0.3.0
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import types

import torch
from torch import nn
from torch.autograd.graph import saved_tensors_hooks

from mplib.datasets import ToySpec, ToyStream
from mplib.pursuit import MPTrace, dense_codes
from mplib.repro import show_versions
from mplib.sae import MPSAE, BatchTopKSAE, MatryoshkaSAE, TopKSAE, TrainConfig, train

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
        t = time.process_time()
        for _ in range(128):  # two refills of the stream's 64-batch blocks
            next(stream)
        data_s = (time.process_time() - t) / 128
        for name, make in MODELS.items():
            model = make(m if m > 1 else None, seeds if m > 1 else 0)
            stream = ToyStream(spec, seeds, batch_size=200)
            stamps = {}

            def clock(step, model, out, stamps=stamps):
                if step + 1 in (warm, warm + steps):
                    stamps[step + 1] = (time.perf_counter(), time.process_time())

            # one toy-recipe run (Adam, clipping, WSD); only the steps after the warm start
            # are timed
            train(model, stream, TrainConfig(n_steps=warm + steps, progress=False,
                                             log_every=10**6), callback=clock)
            per_step = (stamps[warm + steps][0] - stamps[warm][0]) / steps
            cpu_step = (stamps[warm + steps][1] - stamps[warm][1]) / steps
            rows.append({"model": name, "runs": m, "steps_per_s": 1 / per_step,
                         "us_per_model_step": per_step / m * 1e6,
                         "models_per_min": 60 * m / (15_000 * cpu_step),
                         "cpu_us_per_model_step": cpu_step / m * 1e6,
                         "data_us_per_model_step": data_s / m * 1e6})
    return rows


# ---------------------------------------------------------------------------------------------
# part "kernel": a proposal for mplib.pursuit (not used by the library)


class _CompactMP(torch.autograd.Function):
    """Toy-sized MP, proposed for ``mp_loop``: same contract, same numbers, fewer passes.

    * Finished signals leave the loop (compaction with ``index_select``): the work follows the
      mean number of steps per signal (~2.5 on the toy) instead of the batch maximum (~12).
    * Correlations live in Gram space: ``c ← c - a·G[j]`` with ``G = D Dᵀ`` (small N only).
    * Analytic backward: walks the steps in reverse, rebuilding ``r_{t-1} = r_t + a·d_j``
      (O(B·d) memory, no autograd graph of per-step nodes).
    Inputs: X (M, B, d), D (M, N, d); positive/signed/abs selection; correlation/projection.
    """

    @staticmethod
    def forward(ctx, X, D, budget, tol, selection, coefficient, support_rule):
        M, B, d = X.shape
        N = D.shape[1]
        G = torch.bmm(D, D.transpose(1, 2))
        Gf, n2f = G.reshape(M * N, N), torch.diagonal(G, dim1=1, dim2=2).reshape(M * N)
        cl = torch.bmm(X, D.transpose(1, 2)).reshape(M * B, N)
        r2 = (X * X).sum(-1).reshape(M * B)
        live = torch.arange(M * B, device=X.device)
        base = (live // B) * N
        bud, tolf = budget.reshape(M * B), None if tol is None else tol.reshape(M * B)
        used = torch.zeros(M * B * N, dtype=torch.bool, device=X.device) if support_rule \
            else None
        steps, t = [], 0
        while live.numel():
            ok = bud.index_select(0, live) > t
            if tolf is not None:
                ok &= r2 > tolf.index_select(0, live)
            best, j = (cl.abs() if selection == "abs" else cl).max(-1)
            if selection == "positive":
                ok &= best > 0
            if not bool(ok.all()):
                keep = ok.nonzero().squeeze(1)
                live, base, cl, r2, best, j = (v.index_select(0, keep)
                                               for v in (live, base, cl, r2, best, j))
                if not live.numel():
                    break
            fj = base + j
            cj = cl.gather(1, j[:, None]).squeeze(1) if selection == "abs" else best
            nj = n2f.index_select(0, fj)
            if coefficient == "projection":
                a = cj / nj
                r2 = r2 - a * cj
            else:
                a = cj
                r2 = r2 + a * a * (nj - 2)
            cl = cl.addcmul(a[:, None], Gf.index_select(0, fj), value=-1)
            steps.append((live, fj, a))
            t += 1
            if used is not None:
                pos = live * N + j
                seen = used.index_select(0, pos)
                used.index_fill_(0, pos, True)
                if bool(seen.any()):
                    keep = (~seen).nonzero().squeeze(1)
                    live, base, cl, r2 = (v.index_select(0, keep) for v in (live, base, cl, r2))
        S = len(steps)
        idx = torch.zeros(M * B, S, dtype=torch.long, device=X.device)
        val = torch.zeros(M * B, S, dtype=X.dtype, device=X.device)
        n_iter = torch.zeros(M * B, dtype=torch.long, device=X.device)
        for s, (rows, fj, a) in enumerate(steps):
            idx[:, s].index_copy_(0, rows, fj % N)
            val[:, s].index_copy_(0, rows, a)
            n_iter.index_add_(0, rows, torch.ones_like(rows))
        codes = torch.zeros(M * B, N, dtype=X.dtype, device=X.device).scatter_add_(1, idx, val)
        R = X - torch.bmm(codes.view(M, B, N), D)
        ctx.save_for_backward(D, R)
        ctx.steps, ctx.projection = steps, coefficient == "projection"
        return idx.view(M, B, S), val.view(M, B, S), R, n_iter.view(M, B)

    @staticmethod
    def backward(ctx, g_idx, g_val, g_R, g_n):
        D, R = ctx.saved_tensors
        M, B, d = R.shape
        Rf = R.reshape(M * B, d).clone()
        gr = (torch.zeros_like(R) if g_R is None else g_R).reshape(M * B, d).clone()
        gv = None if g_val is None else g_val.reshape(M * B, -1)
        Df, gD = D.reshape(-1, d), torch.zeros_like(D).reshape(-1, d)
        for s in range(len(ctx.steps) - 1, -1, -1):
            rows, fj, a = ctx.steps[s]
            dj = Df.index_select(0, fj)
            r_prev = Rf.index_select(0, rows).addcmul(a[:, None], dj)
            Rf.index_copy_(0, rows, r_prev)
            g = gr.index_select(0, rows)
            ga = -(g * dj).sum(-1)
            if gv is not None:
                ga = ga + gv[:, s].index_select(0, rows)
            if ctx.projection:
                q = ga / (dj * dj).sum(-1)
                g_prev = g.addcmul(q[:, None], dj)
                g_dj = q[:, None] * r_prev - a[:, None] * g - (2 * q * a)[:, None] * dj
            else:
                g_prev = g.addcmul(ga[:, None], dj)
                g_dj = ga[:, None] * r_prev - a[:, None] * g
            gr.index_copy_(0, rows, g_prev)
            gD.index_add_(0, fj, g_dj)
        return gr.view(M, B, d), gD.view_as(D), None, None, None, None, None


def compact_mp(X, D, *, n_steps, tol=None, selection="positive", coefficient="correlation",
               stop_on_unchanged_support=False):
    """Drop-in for ``mp_loop`` (3-D inputs, the options the MP-SAE uses)."""
    M, B, _ = X.shape
    budget = torch.as_tensor(n_steps, device=X.device).expand(M, B)
    tol_t = None if tol is None else torch.as_tensor(tol, dtype=X.dtype,
                                                     device=X.device).expand(M, B)
    return MPTrace(*_CompactMP.apply(X, D, budget, tol_t, selection, coefficient,
                                     stop_on_unchanged_support))


def bench_kernel(runs: list[int], steps: int, warm: int) -> dict:
    """Toy MP-SAE training steps with ``mp_loop`` and with :func:`compact_mp`, same weights."""
    import mplib.sae.mp as mp_module

    original = mp_module.mp_loop
    spec = ToySpec("mpsae", 0.3)
    out = {"exact": {}, "rows": []}
    # exactness, float64: codes, residuals, step counts and gradients
    stream = ToyStream(spec, [0, 1, 2], batch_size=200, dtype=torch.float64)
    model = MPSAE(20, 20, n_models=3, dtype=torch.float64)
    train(model, stream, TrainConfig(n_steps=100, progress=False))
    x = next(stream)
    grads = []
    for fn in (original, compact_mp):
        W = model.W.detach().clone().requires_grad_(True)
        tr = fn(x, W, n_steps=21, tol=0.05**2, selection="positive", coefficient="correlation",
                stop_on_unchanged_support=True)
        (tr.residual**2).sum().backward()
        grads.append((dense_codes(tr.indices, tr.values, 20), tr.residual, tr.n_iter, W.grad))
    for name, a, b in zip(("codes", "residual", "n_iter", "grad_W"), *grads):
        out["exact"][name] = float((a.detach().double() - b.detach().double()).abs().max())
    try:
        for m in runs:
            stream = ToyStream(spec, list(range(m)), batch_size=200)
            model = MPSAE(20, 20, n_models=m)
            train(model, stream, TrainConfig(n_steps=warm, progress=False))
            batches = [next(stream) for _ in range(steps)]
            row = {"runs": m}
            for name, fn in (("mp_loop", original), ("compact", compact_mp)) * 2:
                mp_module.mp_loop = fn
                clone = MPSAE(20, 20, n_models=m)
                clone.load_state_dict(model.state_dict())
                t = time.process_time()
                for xb in batches:
                    clone.training_step(xb, warm, 15_000).loss.sum().backward()
                row[name] = (time.process_time() - t) / steps  # second round overwrites
            out["rows"].append(row)
    finally:
        mp_module.mp_loop = original
    return out


# ---------------------------------------------------------------------------------------------
# part "scale": real-data sizes against overcomplete's MpSAE and mplib's TopK

SCALE = dict(d=576, ps=(2304, 14400), k=32, b=4096)
OC_MAX_ENTRIES = 2**24
"""Largest micro-batch × p of an overcomplete step: its graph keeps two (B, p) fp32 tensors a
pursuit step (the one-hot mask and the scaled codes), 4 GiB at k = 32."""


def load_overcomplete_sae():
    """Import ``overcomplete.sae`` without running ``overcomplete/__init__.py``; None if absent."""
    if "overcomplete.sae" in sys.modules:
        return sys.modules["overcomplete.sae"]
    spec = importlib.util.find_spec("overcomplete")  # a top-level spec: imports nothing
    if spec is None or not spec.submodule_search_locations:
        return None
    if "overcomplete" not in sys.modules:
        pkg = types.ModuleType("overcomplete")
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__, pkg.__file__ = spec, spec.origin
        sys.modules["overcomplete"] = pkg
    return importlib.import_module("overcomplete.sae")


def _scale_problem(p: int, b: int):
    g = torch.Generator().manual_seed(0)
    D = torch.randn(p, SCALE["d"], generator=g)
    D = D / D.norm(dim=-1, keepdim=True)
    x = torch.randn(b, SCALE["d"], generator=g)
    return D, x


def _scale_steppers(D, x, k, which):
    """One training step of ``which`` on ``x`` (Adam, MSE), models built on dictionary ``D``."""
    p, d = D.shape
    if which == "ours":
        model = MPSAE(d, p, k=k, threshold=None, stop_on_unchanged_support=False,
                      selection="signed", coefficient="correlation", reduction="mean")
        with torch.no_grad():
            model.W.copy_(D[None])
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step():
            opt.zero_grad()
            model.training_step(x, 0, 1).loss.backward()
            opt.step()
    elif which == "topk":
        model = TopKSAE(d, p, k=k, reduction="mean")
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step():
            opt.zero_grad()
            model.training_step(x, 0, 1).loss.backward()
            opt.step()
    else:
        oc = load_overcomplete_sae()
        model = oc.MpSAE(d, p, k=k)
        with torch.no_grad():
            model.dictionary._weights.copy_(D)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        micro = min(len(x), 2 ** max(0, (OC_MAX_ENTRIES // p).bit_length() - 1))

        def step(n_micro=None):
            opt.zero_grad()
            parts = list(torch.split(x, micro))
            for xb in parts[:n_micro]:
                _, _, x_hat = model(xb)
                # the batch mean, accumulated over micro-batches: the same gradient
                (((xb - x_hat) ** 2).mean() * (len(xb) / len(x))).backward()
            opt.step()

        step.micro = micro
    return model, step


def scale_memory_child(which: str, p: int) -> None:
    """Peak resident-set increase of one training step of ``which`` (fresh process, JSON)."""
    D, x = _scale_problem(p, SCALE["b"])
    _, step = _scale_steppers(D, x, SCALE["k"], which)
    base = _rss()
    # overcomplete: one micro-batch, the peak of its accumulated step
    peak = _sampled_peak((lambda: step(1)) if which == "overcomplete" else step) - base
    print(json.dumps({"peak": max(peak, 0), "micro": getattr(step, "micro", SCALE["b"])}))


def bench_scale(rounds: int) -> list[dict]:
    oc = load_overcomplete_sae()
    if oc is None:
        print("overcomplete is not installed: pip install --no-deps overcomplete==0.3.0")
        return []
    k, b = SCALE["k"], SCALE["b"]
    rows = []
    for p in SCALE["ps"]:
        # equal codes, small batch, same unit dictionary
        D, xs = _scale_problem(p, 256)
        ours, _ = _scale_steppers(D, xs, k, "ours")
        ocm, _ = _scale_steppers(D, xs, k, "overcomplete")
        with torch.no_grad():
            z_o = ours.encode(xs)
            z_c = ocm.encode(xs)[1]
        agree = float(((z_o != 0) == (z_c != 0)).all(-1).float().mean())
        diff = float((z_o - z_c).abs().max())
        D, x = _scale_problem(p, b)
        steps = {w: _scale_steppers(D, x, k, w)[1] for w in ("ours", "topk", "overcomplete")}
        steps["ours"](), steps["topk"]()  # warm-up (numba compile, allocator)
        times = {w: [] for w in steps}
        for _ in range(rounds):
            for w, fn in steps.items():
                t = time.perf_counter()
                fn()
                times[w].append(time.perf_counter() - t)
        med = {w: statistics.median(v) for w, v in times.items()}
        mem = {}
        for w in steps:
            out = subprocess.run(
                [sys.executable, __file__, "--scale-memory-of", w, "--p", str(p),
                 "--threads", str(torch.get_num_threads())],
                capture_output=True, text=True, check=True)
            mem[w] = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"p": p, "rows_same_support": agree, "max_code_diff": diff, "s_per_step": med,
                     "memory": mem, "oc_micro_batch": steps["overcomplete"].micro})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["mp", "sweep", "kernel", "scale", "all"], default="all")
    ap.add_argument("--size", choices=sorted(SIZES), default="paper")
    ap.add_argument("--rounds", type=int, default=2, help="timed steps per method (part mp)")
    ap.add_argument("--runs", type=int, nargs="+", default=[1, 50, 200])
    ap.add_argument("--steps", type=int, default=128,
                    help="timed steps (multiples of 64 amortise the data refills exactly)")
    ap.add_argument("--warm", type=int, default=64, help="untimed warm-start steps (sweep)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--memory-of", choices=["ours", "dense"], help=argparse.SUPPRESS)
    ap.add_argument("--scale-memory-of", choices=["ours", "topk", "overcomplete"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--p", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_of:
        memory_child(args.memory_of, args.size, args.device)
        return
    if args.scale_memory_of:
        scale_memory_child(args.scale_memory_of, args.p)
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
    if args.part in ("kernel", "all"):
        r = bench_kernel(args.runs[1:] or args.runs, args.steps, 300)
        print("\n== proposal for mplib.pursuit: compacted Gram-space MP with analytic backward"
              " (toy MP-SAE forward+backward, steps 300+ of a toy run, CPU time)")
        print("exactness vs mp_loop (float64, max |Δ|): "
              + ", ".join(f"{k} {v:.1e}" for k, v in r["exact"].items()))
        print(f"{'runs':>6}{'mp_loop CPU ms/step':>21}{'compact CPU ms/step':>21}"
              f"{'speed-up':>10}")
        for row in r["rows"]:
            print(f"{row['runs']:>6}{row['mp_loop'] * 1e3:>21.1f}{row['compact'] * 1e3:>21.1f}"
                  f"{row['mp_loop'] / row['compact']:>9.1f}x")
    if args.part in ("scale", "all"):
        rows = bench_scale(args.rounds)
        s = SCALE
        print(f"\n== real-data scale: d={s['d']} k={s['k']} B={s['b']} fp32, one Adam step "
              f"(median of {args.rounds}, alternating), CPU")
        print(f"{'p':>7}{'same codes':>12}{'mplib MP s':>12}{'overcomplete s':>16}"
              f"{'TopK s':>9}{'oc/MP':>8}{'MP/TopK':>9}{'MP MiB':>8}{'oc MiB':>8}"
              f"{'TopK MiB':>10}{'oc/MP mem':>10}")
        for r in rows:
            t, m = r["s_per_step"], {w: v["peak"] / 2**20 for w, v in r["memory"].items()}
            print(f"{r['p']:>7}{r['rows_same_support']:>12.4f}{t['ours']:>12.2f}"
                  f"{t['overcomplete']:>16.2f}{t['topk']:>9.2f}"
                  f"{t['overcomplete'] / t['ours']:>7.1f}x{t['ours'] / t['topk']:>8.2f}x"
                  f"{m['ours']:>8.0f}{m['overcomplete']:>8.0f}{m['topk']:>10.0f}"
                  f"{m['overcomplete'] / max(m['ours'], 1e-9):>9.1f}x")
            print(f"        max |Δcode| {r['max_code_diff']:.1e} (256 signals); overcomplete in "
                  f"micro-batches of {r['oc_micro_batch']} (memory: one micro-batch)")
    if args.part in ("sweep", "all"):
        rows = bench_sweep(args.runs, args.steps, args.warm)
        print(f"\n== toy sweep: 20 latents, batch 200, steps {args.warm}-{args.warm + args.steps}"
              f" of a {args.warm + args.steps}-step toy run timed, extrapolated to 15,000 steps\n"
              f"(data included; CPU µs = process time, robust to other load on the machine)")
        print(f"{'model':<14}{'runs':>6}{'steps/s':>10}{'wall µs/m-step':>16}"
              f"{'CPU µs/m-step':>15}{'models/min*':>12}{'data CPU µs/m-step':>20}")
        for row in rows:
            print(f"{row['model']:<14}{row['runs']:>6}{row['steps_per_s']:>10.1f}"
                  f"{row['us_per_model_step']:>16.0f}{row['cpu_us_per_model_step']:>15.0f}"
                  f"{row['models_per_min']:>12.2f}{row['data_us_per_model_step']:>20.0f}")
        print("* models/min at 15,000 steps from CPU time, one core; two processes on two cores "
              "double it")


if __name__ == "__main__":
    main()
