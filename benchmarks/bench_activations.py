"""Activation extraction and store reading, timed side by side in one process.

1. **Extraction** of SmolLM2-135M's residual stream after block 15 from Wikipedia windows of
   256 tokens: :func:`mplib.activations.extract_activations` (stops after block 15, no grad,
   batched windows, fp16 shards written) against a plain transformers forward with
   ``output_hidden_states=True`` over all 30 blocks on the same batches (nothing written).
   Also the fraction of this machine's measured fp32 matmul rate that extraction reaches
   (flops counted: 2 × the parameters of blocks 1–15 per token, attention scores left out).
2. **Store reader**: batches/s of ``store.batches(batch_size=4096)`` against the training step
   it feeds (a TopK SAE, d = 576, width 2,304, k = 32, batch 4,096).

    python benchmarks/bench_activations.py [--tokens 16384]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from mplib.activations import extract_activations
from mplib.datasets import load_documents
from mplib.models import load_smollm2
from mplib.sae import TopKSAE, TrainConfig, train


def matmul_gflops(repeats: int = 5) -> float:
    a, b = torch.randn(2048, 576), torch.randn(576, 1536)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * 2048 * 576 * 1536 * repeats / (time.perf_counter() - t) / 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=16384, help="tokens to extract")
    ap.add_argument("--batch", type=int, default=8, help="windows per forward")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, torch threads {torch.get_num_threads()}")
    lm = load_smollm2()
    docs = load_documents("wiki")
    with tempfile.TemporaryDirectory() as root:
        t = time.perf_counter()
        store = extract_activations(lm, docs, site="resid.15", window=256,
                                    batch_size=args.batch, max_tokens=args.tokens,
                                    progress=False, root=root)
        t_ours = time.perf_counter() - t
        n = store.n_tokens
        # the baseline: the same windows, full forward, all hidden states
        ids = lm.tokenizer([d.text for d in docs], add_special_tokens=False)["input_ids"]
        wins = [w[s:s + 256] for w in ids for s in range(0, len(w), 256)]
        wins, total = [w for w in wins if w], 0
        chosen = []
        for w in wins:
            if total >= n:
                break
            chosen.append(w[: n - total])
            total += len(chosen[-1])
        pad = lm.tokenizer.pad_token_id
        t = time.perf_counter()
        with torch.no_grad():
            for j in range(0, len(chosen), args.batch):
                batch = chosen[j:j + args.batch]
                T = max(map(len, batch))
                x = torch.full((len(batch), T), pad)
                m = torch.zeros((len(batch), T), dtype=torch.long)
                for r, c in enumerate(batch):
                    x[r, :len(c)] = torch.tensor(c)
                    m[r, :len(c)] = 1
                lm.model(input_ids=x, attention_mask=m, output_hidden_states=True)
        t_full = time.perf_counter() - t
        p15 = sum(p.numel() for layer in lm.model.model.layers[:15] for p in layer.parameters())
        gf = 2 * p15 * n / t_ours / 1e9
        peak = matmul_gflops()
        print(f"extraction: {n} tokens; ours {n / t_ours:,.0f} tok/s, full forward with "
              f"hidden states {n / t_full:,.0f} tok/s: {t_full / t_ours:.2f}x")
        print(f"extraction reaches {gf:.1f} GFLOP/s = {gf / peak:.0%} of the measured matmul "
              f"{peak:.1f} GFLOP/s")
        print(f"store: {store.array.nbytes / n:.0f} bytes/token of activations "
              f"({store.array.nbytes / n * 1e6 / 1e9:.2f} GB per million tokens)")
        bs = min(4096, n)
        batches = store.batches("train", batch_size=bs, seed=0)
        next(batches)
        t = time.perf_counter()
        for _ in range(20):
            next(batches)
        per_batch = (time.perf_counter() - t) / 20
        model = TopKSAE(576, 2304, k=32)
        x = next(batches)
        cfg = TrainConfig(n_steps=3, batch_size=bs, lr=1e-4, progress=False)
        train(model, iter([x] * 4), cfg)
        t = time.perf_counter()
        train(model, iter([x] * 4), cfg)
        per_step = (time.perf_counter() - t) / 3
        print(f"reader: {1 / per_batch:.1f} batches/s of {bs}; SAE step {1 / per_step:.2f} "
              f"steps/s: the reader is {per_step / per_batch:.0f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
