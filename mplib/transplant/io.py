"""Hugging Face model folders in and out: the transplant as a practitioner runs it.

:func:`transplant_folder` reads a base causal LM and a donor (a causal LM, or an encoder used as
an input-only donor), normalises and matches the two vocabularies, builds the new matrices with
:func:`~mplib.transplant.transplant` and writes a loadable model folder: the base's weights with
the new ``embed_tokens`` (and ``lm_head``), the donor's tokenizer files, the config's vocabulary
size and special-token ids taken from the donor tokenizer, and ``transplant.json`` (settings and
counts). The folder is written under a temporary name and moved into place when complete, with a
``.done`` marker last. ``python -m mplib transplant`` calls it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, NamedTuple

import torch

from mplib.transplant.config import TransplantConfig
from mplib.transplant.match import match_vocabularies
from mplib.transplant.surgery import TransplantResult, transplant
from mplib.transplant.vocab import normalize_vocabulary

__all__ = ["SPECIAL_IDS", "FolderTransplant", "embedding_matrices", "load_donor",
           "save_transplanted", "transplant_folder"]

#: Config and generation-config keys set from the donor tokenizer.
SPECIAL_IDS = ("pad_token_id", "bos_token_id", "eos_token_id", "unk_token_id", "mask_token_id")


class FolderTransplant(NamedTuple):
    """Result of :func:`transplant_folder`."""

    out_dir: Path
    """The written model folder."""
    report: dict
    """What :func:`~mplib.transplant.transplant` reported, plus the rules, the match counts and
    the seconds spent per stage (``seconds``: load, match, approximate, write)."""


def embedding_matrices(model: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return ``(embed, lm_head)`` of a model; ``lm_head`` is None when tied or absent.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A causal LM, or an encoder (no output head: an input-only donor).

    Returns
    -------
    tuple of Tensor (V, D) and Tensor (V, D) or None
    """
    embed = model.get_input_embeddings().weight.detach()
    head_module = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") \
        else None
    if head_module is None:
        return embed, None
    head = head_module.weight.detach()
    tied = bool(getattr(model.config, "tie_word_embeddings", False)) \
        or head.data_ptr() == embed.data_ptr()
    return embed, None if tied else head


def load_donor(folder: str | os.PathLike) -> tuple[Any, Any]:
    """Load a donor folder: ``(model, tokenizer)``; a causal LM if it is one, else an encoder.

    Parameters
    ----------
    folder : path
        A Hugging Face model folder (config, weights, tokenizer files).

    Returns
    -------
    tuple
        The model (eval mode) and its tokenizer.
    """
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    cfg = AutoConfig.from_pretrained(folder)
    causal = any(a.endswith("ForCausalLM") for a in (cfg.architectures or []))
    loader = AutoModelForCausalLM if causal else AutoModel
    return loader.from_pretrained(folder, dtype="auto").eval(), AutoTokenizer.from_pretrained(
        folder)


def save_transplanted(base_model: Any, donor_tokenizer: Any, result: TransplantResult,
                      out_dir: str | os.PathLike, *, extra: dict | None = None) -> Path:
    """Write the base model with its new matrices and the donor's tokenizer to a folder.

    Parameters
    ----------
    base_model : transformers.PreTrainedModel
        The base causal LM (changed in place: resized and given the new rows).
    donor_tokenizer : tokenizer
        Saved with the weights; its special-token ids go into the config.
    result : TransplantResult
        From :func:`~mplib.transplant.transplant` on this model's matrices.
    out_dir : path
        Target folder; replaced if it exists. Written under a temporary name first.
    extra : dict, optional
        Stored in ``transplant.json`` beside the report.

    Returns
    -------
    Path
        ``out_dir``.
    """
    out = Path(out_dir)
    n_rows = result.embed.shape[0]
    with torch.no_grad():
        base_model.resize_token_embeddings(n_rows, mean_resizing=False)
        emb = base_model.get_input_embeddings().weight
        emb.copy_(torch.as_tensor(result.embed).to(emb.dtype))
        if result.lm_head is not None:
            head = base_model.get_output_embeddings().weight
            head.copy_(torch.as_tensor(result.lm_head).to(head.dtype))
    base_model.config.vocab_size = n_rows
    for key in SPECIAL_IDS:
        value = getattr(donor_tokenizer, key, None)
        setattr(base_model.config, key, value)
        if getattr(base_model, "generation_config", None) is not None:
            setattr(base_model.generation_config, key, value)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    base_model.save_pretrained(tmp)
    donor_tokenizer.save_pretrained(tmp)
    info = {"report": result.report, **(extra or {})}
    (tmp / "transplant.json").write_text(json.dumps(info, indent=1, sort_keys=True, default=str))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    (out / ".done").write_text("ok\n")
    return out


def transplant_folder(base_dir: str | os.PathLike, donor_dir: str | os.PathLike,
                      out_dir: str | os.PathLike, config: TransplantConfig | None = None, *,
                      role_map: dict | None = None) -> FolderTransplant:
    """Transplant the donor's tokenizer into the base model, folder to folder.

    Parameters
    ----------
    base_dir : path
        Base causal LM folder (its weights are kept except the embedding matrices).
    donor_dir : path
        Donor folder: its tokenizer is transplanted; its embedding rows map its vocabulary (a
        causal LM's input and output matrices, or an encoder's input embeddings only).
    out_dir : path
        Output model folder (replaced if it exists).
    config : TransplantConfig, optional
        Method and options (default OMP, k = 64); ``config.rule`` normalises both vocabularies.
    role_map : dict, optional
        Donor special roles renamed before matching, e.g. ``{"cls_token": "bos_token"}``.

    Returns
    -------
    FolderTransplant
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = TransplantConfig() if config is None else config
    if not isinstance(cfg, TransplantConfig):
        raise TypeError(f"config must be a TransplantConfig, got {type(config).__name__}")
    t0 = time.perf_counter()
    base_model = AutoModelForCausalLM.from_pretrained(base_dir, dtype="auto").eval()
    base_tok = AutoTokenizer.from_pretrained(base_dir)
    donor_model, donor_tok = load_donor(donor_dir)
    t1 = time.perf_counter()
    base_vocab = normalize_vocabulary(base_tok, rule=cfg.rule)
    donor_vocab = normalize_vocabulary(donor_tok, rule=cfg.rule, role_map=role_map)
    Eb, Hb = embedding_matrices(base_model)
    Ed, Hd = embedding_matrices(donor_model)
    match = match_vocabularies(base_vocab, donor_vocab, base_rows=Eb.shape[0],
                               donor_rows=Ed.shape[0])
    t2 = time.perf_counter()
    result = transplant(Eb, Hb, Ed, Hd, match, cfg)
    t3 = time.perf_counter()
    extra = {"base": str(base_dir), "donor": str(donor_dir), "base_rule": base_vocab.rule,
             "donor_rule": donor_vocab.rule, "role_map": role_map or {}}
    del donor_model
    out = save_transplanted(base_model, donor_tok, result, out_dir, extra=extra)
    t4 = time.perf_counter()
    report = {**result.report, **extra, "seconds": {
        "load": t1 - t0, "match": t2 - t1, "approximate": t3 - t2, "write": t4 - t3}}
    return FolderTransplant(out, report)
