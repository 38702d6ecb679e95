"""Child process of the store tests: extraction on the tiny Llama, killed or under torchrun.

``python store_child.py ROOT kill`` sleeps inside the second shard (the parent kills it there);
``python store_child.py ROOT plain`` extracts; under ``torchrun`` it joins a gloo group first.
"""

from __future__ import annotations

import os
import sys
import time
from types import SimpleNamespace

import torch
from transformers import LlamaConfig, LlamaForCausalLM

STORE_KW = dict(site="resid.2", window=16, batch_size=2, shard_tokens=32, progress=False)


class CharTok:
    pad_token_id = 0

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[1 + ord(c) % 60 for c in t] for t in texts]}


def tiny_lm():
    """A 3-block random Llama (seed 0) with a character tokenizer."""
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(cfg).eval()
    return SimpleNamespace(model=model, tokenizer=CharTok(), n_blocks=3, d_model=32,
                           name="tiny", identity="tiny-llama-seed0")


def docs(n=6, extra=""):
    return [SimpleNamespace(doc_id=str(i), title=f"t{i}", text=f"document {i} " * (5 + i) + extra)
            for i in range(n)]


def main(root: str, mode: str) -> None:
    from mplib.activations import extract

    torch.set_num_threads(1)
    if "RANK" in os.environ:
        import torch.distributed as dist

        dist.init_process_group("gloo")
    if mode == "kill":
        run_group, calls = extract._run_group, []

        def slow(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                print("in-second-shard", flush=True)
                time.sleep(600)  # killed here
            return run_group(*args, **kwargs)

        extract._run_group = slow
    extract.extract_activations(tiny_lm(), docs(), root=root, **STORE_KW)
    if "RANK" in os.environ:
        import torch.distributed as dist

        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
