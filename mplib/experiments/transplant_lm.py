r"""Tokenizer-transplant experiments on real models: SmolLM2 as base, MiniLM or itself as donor.

Shared by the ``ts_heldout_smollm2``, ``ts_wordpiece_into_smollm2`` and ``ts_numeric``
notebooks (Goddard & Fernandes Neto, 2025, scored by function as in
:mod:`mplib.transplant.score`):

* :func:`vocab_keys` / :func:`match_keys`: vocabulary keys (byte-level BPE decoded to text, a
  leading space = word start; WordPiece ``##w`` = continuation, other pieces = word start;
  special and ``[unusedN]`` pieces are junk) and the anchors / new / junk split. A stand-in for
  :mod:`mplib.transplant`'s normaliser while that lands; the rule is the same.
* :func:`bert_render`: text rendered the way BERT pre-tokenises it (lower-cased, accents
  stripped, punctuation split off, single spaces), so both tokenizers see identical text.
* :func:`rows_patched` / :func:`embeddings_replaced`: a tied model's embedding matrix changed in
  place for the duration of a ``with`` block (restored afterwards).
* :func:`heldout_split`: hide shared word tokens (held-out split with ground truth).
* :func:`digit_group_tokenizer`: SmolLM2's tokenizer with the 1,110 strings of 1–3 digits as
  added tokens (leftmost-longest matching reproduces ``\\p{N}{1,3}`` grouping).
* :func:`cached_rows`: approximated rows cached per (arm, problem) under ``data/cache/<stem>/``.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from mplib.experiments.transplant import Arm, approximate
from mplib.repro import cached, numpy_generator

__all__ = [
    "KeyMatch",
    "bert_render",
    "cached_rows",
    "count_tokens",
    "digit_group_tokenizer",
    "embeddings_replaced",
    "heldout_split",
    "match_keys",
    "rows_patched",
    "vocab_keys",
]


def _byte_decoder() -> dict[str, int]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def vocab_keys(tokenizer: Any) -> tuple[dict[tuple, int], list[int]]:
    """Normalised keys of a byte-level BPE or WordPiece vocabulary.

    Returns
    -------
    key_to_id : dict
        ``("W", text)`` word-start pieces, ``("C", text)`` continuation pieces, ``("B", bytes)``
        partial UTF-8 pieces; on a collision the lowest id keeps the key.
    junk : list of int
        Special and ``[unusedN]`` ids (zero rows, never anchors, never approximated).
    """
    vocab = tokenizer.get_vocab()
    special = set(tokenizer.all_special_tokens) | {
        t for t in vocab if t.startswith("<|") and t.endswith("|>")}
    wordpiece = type(tokenizer.backend_tokenizer.model).__name__ == "WordPiece"
    dec = _byte_decoder()
    out: dict[tuple, int] = {}
    junk = []
    for tok, i in sorted(vocab.items(), key=lambda t: t[1]):
        if tok in special or (tok.startswith("[unused") and tok.endswith("]")):
            junk.append(i)
            continue
        if wordpiece:
            key = ("C", tok[2:]) if tok.startswith("##") else ("W", tok)
        else:
            try:
                raw = bytes(dec[c] for c in tok)
            except KeyError:
                junk.append(i)
                continue
            try:
                text = raw.decode("utf-8")
                key = ("W", text[1:]) if text.startswith(" ") and len(text) > 1 else ("C", text)
            except UnicodeDecodeError:
                key = ("B", raw)
        out.setdefault(key, i)
    return out, junk


class KeyMatch(NamedTuple):
    """Anchors, new and junk donor tokens of a (base, donor) vocabulary pair."""

    anchors_donor: np.ndarray
    """Donor ids of the shared tokens, sorted."""
    anchors_base: np.ndarray
    """Base ids of the same tokens, same order."""
    new: np.ndarray
    """Donor ids without a base counterpart (to approximate)."""
    junk: np.ndarray
    """Donor ids left as zero rows."""
    keys: list
    """Key of each anchor, same order."""


def match_keys(base_tokenizer: Any, donor_tokenizer: Any) -> KeyMatch:
    """Match two vocabularies by :func:`vocab_keys` (exact intersection, no selection)."""
    kb, _ = vocab_keys(base_tokenizer)
    kd, junk = vocab_keys(donor_tokenizer)
    pairs = sorted((i, kb[k], k) for k, i in kd.items() if k in kb)
    shared = {i for i, _, _ in pairs}
    new = sorted(i for i in kd.values() if i not in shared)
    return KeyMatch(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]),
                    np.array(new, dtype=np.int64), np.array(sorted(junk), dtype=np.int64),
                    [p[2] for p in pairs])


def bert_render(text: str, tokenizer: Any, *, max_pretokens: int | None = None) -> str:
    """Render text as BERT pre-tokenises it.

    Normalised (lower case, no accents), split on spaces and punctuation, re-joined by single
    spaces, cut to ``max_pretokens`` pieces.
    """
    bt = tokenizer.backend_tokenizer
    norm = bt.normalizer.normalize_str(text) if bt.normalizer is not None else text
    words = [w for w, _ in bt.pre_tokenizer.pre_tokenize_str(norm)]
    return " ".join(words[:max_pretokens] if max_pretokens else words)


@contextlib.contextmanager
def rows_patched(model: Any, ids: Any, rows: Any) -> Iterator[None]:
    """Replace some rows of a tied model's embedding matrix (input and output) for a block."""
    W = model.get_input_embeddings().weight
    idx = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    old = W.data[idx].clone()
    W.data[idx] = torch.as_tensor(np.asarray(rows), dtype=W.dtype)
    try:
        yield
    finally:
        W.data[idx] = old


@contextlib.contextmanager
def embeddings_replaced(model: Any, matrix: Any) -> Iterator[None]:
    """Give a tied model a new (V', d) embedding matrix, also its output head, for a block."""
    old_in, old_out = model.get_input_embeddings(), model.get_output_embeddings()
    E = torch.as_tensor(np.asarray(matrix), dtype=old_in.weight.dtype)
    emb = torch.nn.Embedding(E.shape[0], E.shape[1])
    emb.weight = torch.nn.Parameter(E, requires_grad=False)
    head = torch.nn.Linear(E.shape[1], E.shape[0], bias=False)
    head.weight = emb.weight
    model.set_input_embeddings(emb)
    model.set_output_embeddings(head)
    try:
        yield
    finally:
        model.set_input_embeddings(old_in)
        model.set_output_embeddings(old_out)


def heldout_split(match: KeyMatch, token_counts: Counter, *, n_hidden: int, pool: int,
                  seed: int) -> np.ndarray:
    """Pick the anchors to hide (indices into the anchors of ``match``).

    A seeded draw of ``n_hidden`` among the ``pool`` most frequent (in ``token_counts``, keyed
    by base id) shared word tokens of at least two letters.
    """
    cand = [j for j, k in enumerate(match.keys) if k[0] == "W" and isinstance(k[1], str)
            and k[1].isalpha() and len(k[1]) >= 2 and token_counts[int(match.anchors_base[j])]]
    cand.sort(key=lambda j: -token_counts[int(match.anchors_base[j])])
    cand = cand[:pool]
    if n_hidden > len(cand):
        raise ValueError(f"n_hidden must be at most the {len(cand)} candidates, got {n_hidden}")
    return np.sort(numpy_generator(seed).choice(cand, n_hidden, replace=False))


def digit_group_tokenizer(tokenizer: Any) -> Any:
    """Copy a fast tokenizer and add "0"…"999" (1–3 digit strings) as added tokens."""
    from tokenizers import AddedToken, Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    chunks = [f"{i:0{w}d}" for w in (1, 2, 3) for i in range(10 ** w)]
    backend.add_tokens([AddedToken(c, normalized=False, single_word=False) for c in chunks])
    return PreTrainedTokenizerFast(tokenizer_object=backend)


def cached_rows(stem: str, arm: Arm, targets: np.ndarray, donor_anchors: np.ndarray,
                base_anchors: np.ndarray, *, base_rows: np.ndarray | None = None,
                tag: str = "") -> np.ndarray:
    """:func:`~mplib.experiments.transplant.approximate`, cached by arm and a hash of inputs."""
    h = hashlib.sha256()
    for a in (targets, donor_anchors, base_anchors):
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    key = [arm.method, arm.k, h.hexdigest(), tag, None if base_rows is None else
           hashlib.sha256(np.ascontiguousarray(base_rows, np.float32).tobytes()).hexdigest()]
    return cached(stem, f"rows-{arm.method}-{arm.k}", key,
                  lambda: approximate(arm, targets, donor_anchors, base_anchors,
                                      base_rows=base_rows).astype(np.float32))


def count_tokens(tokenizer: Any, texts: Sequence[str]) -> Counter:
    """Token-id counts of texts (no special tokens)."""
    c: Counter = Counter()
    for t in texts:
        c.update(tokenizer(t, add_special_tokens=False)["input_ids"])
    return c
