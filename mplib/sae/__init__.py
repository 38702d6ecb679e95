"""Sparse autoencoders and a batched trainer that trains many small SAEs as one model.

Models: ReLU, TopK, BatchTopK, JumpReLU, Matryoshka (and the toy's Vanilla), matching pursuit.

Every model is ``Model(d_in, n_latents, **hyper)``; ``model(x)`` returns an
:class:`SAEOutput`; ``model.encode(x, k=None)`` returns codes (``k`` overrides the sparsity at
inference); ``model.dictionary`` is ``(n_latents, d_in)``. Pass ``n_models=M`` (or a list of
seeds) to hold ``M`` independent runs trained together by :func:`train`;
``model.get_run(m)`` returns run ``m`` as a standalone model.
"""

from mplib.sae._common import keep_top_k
from mplib.sae.base import REGISTRY, BaseSAE, SAEOutput
from mplib.sae.batchtopk import BatchTopKSAE
from mplib.sae.config import TrainConfig
from mplib.sae.io import Checkpoint, is_checkpoint, load_checkpoint, load_model, save_checkpoint
from mplib.sae.jumprelu import JumpReLUSAE
from mplib.sae.matryoshka import MatryoshkaSAE, prefix_length_probs
from mplib.sae.mp import MPSAE
from mplib.sae.relu import ReLUSAE
from mplib.sae.schedules import lr_factor, lr_factors
from mplib.sae.topk import TopKSAE
from mplib.sae.train import (
    StackedStreams,
    TensorBatches,
    TrainResult,
    clip_grad_norm_per_run,
    train,
)

__all__ = [
    "MPSAE",
    "REGISTRY",
    "BaseSAE",
    "BatchTopKSAE",
    "Checkpoint",
    "JumpReLUSAE",
    "MatryoshkaSAE",
    "ReLUSAE",
    "SAEOutput",
    "StackedStreams",
    "TensorBatches",
    "TopKSAE",
    "TrainConfig",
    "TrainResult",
    "clip_grad_norm_per_run",
    "is_checkpoint",
    "keep_top_k",
    "load_checkpoint",
    "load_model",
    "lr_factor",
    "lr_factors",
    "prefix_length_probs",
    "save_checkpoint",
    "train",
]
