"""CUDA benchmark: pursuit and MP-SAE on a GPU, as fractions of the device's own matmul rate.

Run on a machine with a CUDA device (prints "no CUDA device" and exits 0 elsewhere):

    python benchmarks/bench_cuda.py [--quick] [--json out.json]

Parts, each timed side by side in this one process (CUDA-synchronised, median of repeats):

1. **Roofline.** The measured fp32 GFLOP/s (TF32 off) of the correlation product ``X @ D.T``
   at the shape the pursuits run (B × d times d × N), and of a large square product.
2. **Pursuit at SAE scale**, d × N = 576 × 16,384, S = 64, fp32: MP and residual-regime OMP
   through :func:`mplib.pursuit.sparse_encode`, as GFLOP/s and as a fraction of part 1's
   product. Flops counted: ``2·B·d·N`` per step for the correlations, plus ``8·B·d·k`` at step
   k for OMP's Gram–Schmidt.
3. **MP-SAE training step**, d = 2,304, p = 65,536, k = 64: mplib's :class:`~mplib.sae.MPSAE`
   against the ``overcomplete`` package's ``MpSAE`` (dense one-hot codes, signed-max selection)
   on the same dictionary and batch: step time, peak memory, and whether the codes agree.
4. **Batched OMP** against the ``orthogonal-matching-pursuit-gpu`` package (its ``omp_v0``,
   inverse-Cholesky Batch-OMP) when it imports: signals/s and support agreement, fp32.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
import types
from pathlib import Path

import torch

from mplib.pursuit import sparse_encode
from mplib.sae import MPSAE


def _time(fn, repeats: int) -> float:
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def roofline(B: int, d: int, N: int, repeats: int) -> dict:
    g = torch.Generator(device="cuda").manual_seed(0)
    X = torch.randn(B, d, device="cuda", generator=g)
    D = torch.randn(N, d, device="cuda", generator=g)
    t = _time(lambda: X @ D.T, repeats)
    A = torch.randn(8192, 8192, device="cuda", generator=g)
    ts = _time(lambda: A @ A, repeats)
    return {"corr_gflops": 2 * B * d * N / t / 1e9, "square_gflops": 2 * 8192**3 / ts / 1e9}


def pursuit_scale(B: int, d: int, N: int, S: int, repeats: int, corr_gflops: float) -> dict:
    g = torch.Generator(device="cuda").manual_seed(1)
    D = torch.randn(N, d, device="cuda", generator=g)
    D /= D.norm(dim=1, keepdim=True)
    X = torch.randn(B, d, device="cuda", generator=g)
    out = {}
    runs = {"mp": {"algorithm": "mp"}, "omp_residual": {"algorithm": "omp", "regime": "residual"}}
    for name, opts in runs.items():
        t = _time(lambda o=opts: sparse_encode(X, D, n_nonzero_coefs=S, **o), repeats)
        flops = 2 * B * d * N * S
        if name.startswith("omp"):
            flops += sum(8 * B * d * k for k in range(S))
        gf = flops / t / 1e9
        out[name] = {"seconds": t, "gflops": gf, "fraction_of_matmul": gf / corr_gflops,
                     "signals_per_s": B / t}
    return out


def _load_overcomplete_sae():
    """``overcomplete.sae`` without running ``overcomplete/__init__.py`` (torchvision)."""
    spec = importlib.util.find_spec("overcomplete")
    if spec is None or spec.submodule_search_locations is None:
        return None
    if "overcomplete" not in sys.modules:
        pkg = types.ModuleType("overcomplete")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["overcomplete"] = pkg
    from overcomplete.sae import MpSAE

    return MpSAE


def _peak(fn) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def sae_step(B: int, d: int, p: int, k: int, repeats: int) -> dict:
    g = torch.Generator(device="cuda").manual_seed(2)
    D = torch.randn(p, d, device="cuda", generator=g)
    D /= D.norm(dim=1, keepdim=True)
    x = torch.randn(B, d, device="cuda", generator=g)
    ours = MPSAE(d, p, k=k, threshold=None, stop_on_unchanged_support=False, selection="signed",
                 coefficient="projection", reduction="mean", device="cuda")
    with torch.no_grad():
        ours.W.copy_(D[None])
    opt_o = torch.optim.Adam(ours.parameters(), lr=1e-4)

    def step_ours():
        opt_o.zero_grad(set_to_none=True)
        ours.training_step(x, 0, 1).loss.backward()
        opt_o.step()

    result = {"B": B, "d": d, "p": p, "k": k}
    result["mplib_s"] = _time(step_ours, repeats)
    result["mplib_peak_bytes"] = _peak(step_ours)
    MpSAE = _load_overcomplete_sae()
    if MpSAE is None:
        result["overcomplete"] = "not installed"
        return result
    theirs = MpSAE(d, p, k=k, device="cuda")
    with torch.no_grad():
        theirs.dictionary._weights.copy_(D)
    W = theirs.get_dictionary().detach()
    with torch.no_grad():
        ours.W.copy_(W[None])
        z_ours = ours.encode(x)
        _, z_theirs = theirs.encode(x)
    result["codes_support_agreement"] = float(((z_ours != 0) == (z_theirs != 0)).float().mean())
    result["codes_max_abs_diff"] = float((z_ours - z_theirs).abs().max())
    opt_t = torch.optim.Adam(theirs.parameters(), lr=1e-4)

    def step_theirs():
        opt_t.zero_grad(set_to_none=True)
        _, _, x_hat = theirs(x)
        ((x - x_hat) ** 2).mean().backward()
        opt_t.step()

    result["overcomplete_s"] = _time(step_theirs, repeats)
    result["overcomplete_peak_bytes"] = _peak(step_theirs)
    result["speedup"] = result["overcomplete_s"] / result["mplib_s"]
    result["peak_memory_ratio"] = result["overcomplete_peak_bytes"] / result["mplib_peak_bytes"]
    return result


def _load_omp_gpu():
    """The package's torch Batch-OMP; its compiled CPU kernels are stubbed when not built."""
    spec = importlib.util.find_spec("orthogonal_matching_pursuit_gpu")
    if spec is None:
        return None
    try:
        from orthogonal_matching_pursuit_gpu.omp import omp_v0
    except ImportError:
        root = Path(spec.submodule_search_locations[0])
        stub = types.ModuleType("orthogonal_matching_pursuit_gpu.blas_kernels")
        for name in ("argmax_blast", "ppsv", "update_projections_blast", "update_D_mybest_blast"):
            setattr(stub, name, None)
        sys.modules["orthogonal_matching_pursuit_gpu.blas_kernels"] = stub
        pkg = types.ModuleType("orthogonal_matching_pursuit_gpu")
        pkg.__path__ = [str(root)]
        sys.modules["orthogonal_matching_pursuit_gpu"] = pkg
        from orthogonal_matching_pursuit_gpu.omp import omp_v0
    return omp_v0


def omp_vs_package(B: int, d: int, N: int, S: int, repeats: int) -> dict:
    omp_v0 = _load_omp_gpu()
    g = torch.Generator(device="cuda").manual_seed(3)
    D = torch.randn(N, d, device="cuda", generator=g)
    D /= D.norm(dim=1, keepdim=True)
    X = torch.randn(B, d, device="cuda", generator=g)
    out = {"B": B, "d": d, "N": N, "S": S}
    t_ours = _time(lambda: sparse_encode(X, D, n_nonzero_coefs=S), repeats)
    out["mplib_signals_per_s"] = B / t_ours
    if omp_v0 is None:
        out["package"] = "not installed"
        return out
    A = D.T.contiguous()  # the package's layout: atoms as columns
    G = A.T @ A
    t_pkg = _time(lambda: omp_v0(A, X, G, n_nonzero_coefs=S), repeats)
    out["package_signals_per_s"] = B / t_pkg
    out["speedup"] = t_pkg / t_ours
    sets, _, _ = omp_v0(A, X, G, n_nonzero_coefs=S)
    ours = sparse_encode(X, D, n_nonzero_coefs=S).codes != 0
    theirs = torch.zeros_like(ours).scatter_(1, sets, True)
    out["same_supports"] = float((ours == theirs).all(1).float().mean())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches, fewer repeats")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    reps = 3 if args.quick else 10
    res = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    B = 2048 if args.quick else 8192
    res["roofline"] = roofline(B, 576, 16384, reps)
    res["pursuit"] = pursuit_scale(B, 576, 16384, 64, reps, res["roofline"]["corr_gflops"])
    res["sae_step"] = sae_step(1024 if args.quick else 4096, 2304, 65536, 64, max(reps // 2, 2))
    res["omp_vs_package"] = [
        omp_vs_package(50_000 if not args.quick else 5000, 256, 1024, 32, reps),
        omp_vs_package(8192 if not args.quick else 1024, 576, 16384, 64, max(reps // 2, 2)),
    ]
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
