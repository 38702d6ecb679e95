"""SAE-encoder gradient pursuit: mplib's fast path against the released dense loop.

The dark-matter paper's inference-time pursuit (``JoshEngels/SAE-Dark-Matter``,
``encoder_pursuit.py``): non-negative gradient pursuit over an SAE's decoder, each token given
as many iterations as its SAE had active latents. The released loop is re-implemented below
(:func:`released_grad_pursuit`, step for step: dense residual ``S − z W``, dense correlations
``r Wᵀ``, signed unmasked argmax, dense ``grad @ W``, line search, clamp at 0, per-token
freezing of ``final_weights``; batches of 256 tokens as the released script) and timed side by
side, in one process, with :func:`mplib.pursuit.sae_gradient_pursuit` (fast path, batches of
``--batch`` tokens sorted by budget).

Data: SmolLM2 activations at ``resid.15`` (d = 576), analysis split, positions >= 16, from the
shared store; decoder: a BatchTopK SAE of width 2,304 (mean L0 32) trained by
:func:`mplib.experiments.dark_matter_lm.lm_saes` (cached); budgets: its per-token L0.
Checks: supports identical to the released loop's in fp64 on ``--check`` tokens, and the
released loop equal to mplib's ``reference="sae-dark-matter"`` mode. Timing in fp32 (the
released loop's dtype) on ``--n-tokens`` tokens (the target size is 50,000; on a busy 2-core
machine use fewer: both paths scale linearly in tokens).

Run::

    .venv/bin/python benchmarks/bench_gp.py --n-tokens 2048      # minutes on 2 cores
    .venv/bin/python benchmarks/bench_gp.py --n-tokens 50000 --store-tokens 196608  # GPU-sized
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


def released_grad_pursuit(signals, dictionary, target_l0s):
    """The released loop (``grad_pursuit`` + ``grad_pursuit_update_step``), re-typed."""
    n = dictionary.shape[0]
    weights = torch.zeros(len(signals), n, dtype=signals.dtype)
    final = torch.zeros_like(weights)
    for current in range(int(target_l0s.max())):
        residual = signals - weights @ dictionary
        selected = weights != 0
        inner = residual @ dictionary.T
        idx = torch.argmax(inner, dim=-1)
        selected[torch.arange(selected.shape[0]), idx] = True
        grad = inner * selected.to(signals.dtype)
        c = grad @ dictionary
        step = (c * residual).sum(-1) / (c * c).sum(-1)
        weights = torch.clamp(weights + grad * step[:, None], min=0)
        final = torch.where(target_l0s[:, None] > current, weights, final)
    return final


def released(X, W, b, L, batch=256):
    """Released script's driver: batches of 256, bias removed and added back."""
    out = []
    for i in range(0, len(X), batch):
        z = released_grad_pursuit(X[i:i + batch] - b, W, L[i:i + batch])
        out.append(z)
    return torch.cat(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-tokens", type=int, default=2048)
    p.add_argument("--store-tokens", type=int, default=32768)
    p.add_argument("--width", type=int, default=2304)
    p.add_argument("--sae-steps", type=int, default=300)
    p.add_argument("--check", type=int, default=256)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"load average {os.getloadavg()}; threads {a.threads}")
    from mplib.experiments import dark_matter_lm as dm
    from mplib.pursuit import sae_gradient_pursuit

    e = dm.lm_saes([a.width], k=32, kind="batchtopk", n_tokens=a.store_tokens,
                   n_steps=a.sae_steps, batch_size=512)[0]
    A = dm.lm_analysis_arrays([e], n_tokens=a.store_tokens, max_tokens=a.n_tokens)
    X64 = torch.from_numpy(A.X * e.scale)
    L = torch.from_numpy(np.asarray(A.l0[0], np.int64))
    W64 = e.sae.dictionary.detach().double()
    b64 = e.sae.b_dec.detach().double().reshape(-1)
    print(f"{len(X64)} tokens, d = {X64.shape[1]}, width {W64.shape[0]}, budgets mean "
          f"{L.float().mean():.1f} (min {int(L.min())}, max {int(L.max())})")

    # correctness, fp64, on a sample
    n = min(a.check, len(X64))
    with torch.no_grad():
        zr = released(X64[:n], W64, b64, L[:n])
    fast = sae_gradient_pursuit(X64[:n], W64, L[:n], b_dec=b64, batch_size=a.batch)
    ref = sae_gradient_pursuit(X64[:n], W64, L[:n], b_dec=b64, reference="sae-dark-matter")
    zf, zm = fast.to_dense(W64.shape[0]), ref.to_dense(W64.shape[0])
    same = ((zf != 0) == (zr != 0)).all(-1).double().mean().item()
    same_ref = ((zm != 0) == (zr != 0)).all(-1).double().mean().item()
    print(f"fp64, {n} tokens: supports equal to the released loop: fast {same:.2%}, reference "
          f"mode {same_ref:.2%}; max |code diff| fast {float((zf - zr).abs().max()):.2e}")

    # timing, fp32, side by side
    X, W, b = X64.float(), W64.float(), b64.float()
    t0 = time.perf_counter()
    fast = sae_gradient_pursuit(X, W, L, b_dec=b, batch_size=a.batch)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        zr = released(X, W, b, L)
    t_rel = time.perf_counter() - t0
    agree = ((fast.to_dense(W.shape[0]) != 0) == (zr != 0)).all(-1).double().mean().item()
    print(f"fp32, {len(X)} tokens: fast {t_fast:.2f} s ({len(X) / t_fast:,.0f} tok/s), released "
          f"loop {t_rel:.2f} s ({len(X) / t_rel:,.0f} tok/s): ratio {t_rel / t_fast:.1f}x; "
          f"fp32 supports equal {agree:.2%}")


if __name__ == "__main__":
    main()
