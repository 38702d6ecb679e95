"""Helpers of the SAE tests: one small constructor per model and toy streams."""

from __future__ import annotations

import torch

from mplib.datasets import ToySpec, ToyStream
from mplib.sae import MPSAE, BatchTopKSAE, JumpReLUSAE, MatryoshkaSAE, ReLUSAE, TopKSAE

# one entry per model: class and the hyper-parameters used in the generic tests
MODELS = {
    "mp": (MPSAE, {}),
    "mp_fixed_k": (MPSAE, dict(k=3, threshold=None, stop_on_unchanged_support=False,
                               selection="signed", coefficient="projection", pre_bias=True)),
    "relu": (ReLUSAE, dict(l1_coef=1e-2, target_l0=2.0)),
    "topk": (TopKSAE, dict(k=3, aux_k=4, dead_steps=5)),
    "batchtopk": (BatchTopKSAE, dict(initial_steps=20)),
    "jumprelu": (JumpReLUSAE, dict(sparsity_coef=1e-2, target_l0=2.0)),
    "matryoshka": (MatryoshkaSAE, {}),
    "vanilla": (MatryoshkaSAE, dict(n_prefixes=1, permute_latents=False)),
}


def make(name: str, d_in: int = 20, n_latents: int = 20, **kw):
    cls, hyper = MODELS[name]
    return cls(d_in, n_latents, **{**hyper, **kw})


def toy_stream(seeds, *, cosine=0.3, batch_size=64, dtype=torch.float32, variant="mpsae"):
    return ToyStream(ToySpec(variant, cosine), seeds=list(seeds), batch_size=batch_size,
                     dtype=dtype)
