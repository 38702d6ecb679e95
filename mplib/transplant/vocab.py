r"""Vocabulary normalisation: every token string becomes a key comparable across tokenizers.

Tokenizer transplantation (Goddard & Fernandes Neto, "Training-Free Tokenizer Transplantation
via Orthogonal Matching Pursuit", arXiv 2506.06607, 2025; mergekit's ``tokensurgeon``) matches
two vocabularies through such keys. A key is one of

* ``(WORD_START, text)`` — a word-initial piece (the text after the word-start marker);
* ``(SPECIAL, role)`` — a single-valued special token (``"bos_token"``, ``"eos_token"``, …);
* ``(BYTES, raw)`` — a partial UTF-8 sequence or a ``<0xNN>`` byte-fallback piece;
* a plain ``str`` — a continuation piece (or an additional special token's literal text).

Junk entries (BERT's ``[unusedN]``) get no key: zero rows, never anchors, never approximated.

The rules:

``"mergekit"``
    mergekit's rule exactly (``mergekit/tokenizer/normalization.py``). The marker comes from the
    tokenizer's class: GPT-2/OpenAI-GPT/Qwen2 classes → ``Ġ``; Llama/T5/Gemma classes → ``▁``
    unless the vocabulary holds ``Ġhello``; any other class → ``Ġ`` with a warning (this covers
    BERT WordPiece, whose ``##`` is not understood). A string starting with the marker is
    ``(WORD_START, rest)``; else a value of ``special_tokens_map`` is ``(SPECIAL, role)`` (first
    role in the map's order; every additional special token collapses onto
    ``(SPECIAL, "additional_special_tokens")``); else the plain string. No byte decoding. On a key
    collision the id met last in ``get_vocab()`` order keeps the key (a dict overwritten).
``"byte_level"`` (ours; SmolLM2, GPT-2, Qwen, Llama-3)
    The string maps back to bytes through GPT-2's byte-to-unicode table. Valid UTF-8 becomes text:
    a leading space → ``(WORD_START, text[1:])``, else the plain text; a partial sequence keeps
    ``(BYTES, raw)``, which matches only a single-byte fallback piece of the other side.
``"sentencepiece"`` (ours; Gemma, Llama-2, T5, XLM-R)
    A leading ``▁`` → ``(WORD_START, rest)`` with inner ``▁`` read as spaces; ``<0xNN>`` →
    ``(BYTES, b"\xNN")``.
``"wordpiece"`` (ours; BERT, MiniLM)
    ``##w`` → plain ``w`` (continuation); any other non-special piece → ``(WORD_START, w)``;
    ``[unusedN]`` → junk. Textually exact only for text rendered the way BERT pre-tokenises it
    (lower-cased, accents stripped, punctuation split off, words joined by single spaces): then a
    word-initial piece always follows a space.

In our rules, specials are ``(SPECIAL, role)`` for the single-valued roles; additional special
tokens keep their literal text (no collapse); on a collision the lowest id keeps the key and the
others are reported in ``collisions`` (they get approximated). ``rule="auto"`` picks a rule from
the tokenizer's own model, pre-tokenizer and decoder, never from its Python class.
"""

from __future__ import annotations

import json
import re
import warnings
from functools import lru_cache
from typing import Any, NamedTuple

__all__ = [
    "BYTES",
    "MERGEKIT_WARNING",
    "RULES",
    "SPECIAL",
    "WORD_START",
    "NormalizedVocab",
    "bytes_to_unicode",
    "normalize_vocabulary",
    "token_key",
]

WORD_START = "word_start"
SPECIAL = "special"
BYTES = "bytes"
RULES = ("auto", "mergekit", "byte_level", "sentencepiece", "wordpiece")
SINGLE_ROLES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                "mask_token")
MERGEKIT_WARNING = "unknown tokenizer class: assuming the word-start marker 'Ġ' (mergekit's rule)"

_UNUSED = re.compile(r"^\[unused\d+\]$")
_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
_GPT2_CLASSES = {"GPT2Tokenizer", "GPT2TokenizerFast", "OpenAIGPTTokenizer",
                 "OpenAIGPTTokenizerFast", "Qwen2Tokenizer", "Qwen2TokenizerFast"}
_SP_CLASSES = {"LlamaTokenizer", "LlamaTokenizerFast", "T5Tokenizer", "T5TokenizerFast",
               "GemmaTokenizer", "GemmaTokenizerFast"}


class NormalizedVocab(NamedTuple):
    """A vocabulary as keys (see the module docstring for the key forms)."""

    key_to_id: dict
    """Key -> token id, one id per key (the losers of a collision are in ``collisions``)."""
    rule: str
    """The rule applied (never ``"auto"``)."""
    collisions: dict
    """Key -> ids of the tokens that share the key with ``key_to_id[key]`` but lost it."""
    junk_ids: list
    """Ids given no key, sorted (zero rows; never anchors, never approximated)."""
    n_ids: int = 0
    """``max(id) + 1`` over the whole vocabulary (the row count a new matrix needs)."""


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table, used by byte-level BPE vocabularies.

    Returns
    -------
    dict
        Byte value (0–255) -> one character.

    Examples
    --------
    >>> bytes_to_unicode()[32], bytes_to_unicode()[10]
    ('Ġ', 'Ċ')
    """
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


@lru_cache(maxsize=1)
def _unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def _vocab_of(tokenizer: Any) -> dict[str, int]:
    if isinstance(tokenizer, dict):
        vocab = tokenizer
    else:
        get = getattr(tokenizer, "get_vocab", None)
        vocab = get() if callable(get) else None
    if not vocab or not isinstance(vocab, dict):
        raise ValueError(f"tokenizer must have a vocabulary (get_vocab() returning a non-empty "
                         f"dict, or a {{token: id}} dict), got {type(tokenizer).__name__}")
    return vocab


def _specials(tokenizer: Any) -> tuple[dict[str, str], set[str]]:
    """(token text -> single role, the additional special token texts)."""
    smap = dict(getattr(tokenizer, "special_tokens_map", None) or {})
    roles: dict[str, str] = {}
    for role in SINGLE_ROLES:
        val = smap.get(role)
        if isinstance(val, str):
            roles.setdefault(val, role)
    extra: set[str] = set()
    for name in ("additional_special_tokens", "extra_special_tokens"):
        for source in (smap.get(name), getattr(tokenizer, name, None)):
            vals = list(source.values()) if isinstance(source, dict) else (source or [])
            extra.update(str(v) for v in vals if isinstance(v, str))
    return roles, extra - set(roles)


def _infer_rule(tokenizer: Any, vocab: dict[str, int]) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        kind = (spec.get("model") or {}).get("type")
        if kind == "WordPiece":
            return "wordpiece"
        text = json.dumps({k: spec.get(k) for k in ("pre_tokenizer", "decoder", "normalizer")})
        if '"ByteLevel"' in text:
            return "byte_level"
        if '"Metaspace"' in text or "▁" in text or kind == "Unigram":
            return "sentencepiece"
    if "[CLS]" in vocab and any(t.startswith("##") for t in vocab):
        return "wordpiece"
    n_g = sum(t.startswith("Ġ") for t in vocab)
    n_s = sum(t.startswith("▁") for t in vocab)
    return "byte_level" if n_g >= n_s else "sentencepiece"


def _mergekit_marker(tokenizer: Any, vocab: dict[str, int]) -> str:
    # isinstance on transformers' classes, by name along the MRO (no transformers import)
    names = {cls.__name__ for cls in type(tokenizer).__mro__}
    if names & _GPT2_CLASSES:
        return "Ġ"
    if names & _SP_CLASSES:
        return "Ġ" if "Ġhello" in vocab else "▁"
    warnings.warn(MERGEKIT_WARNING, UserWarning, stacklevel=3)
    return "Ġ"


def _mergekit_key(token: str, smap: dict, marker: str) -> Any:
    if token.startswith(marker):
        return (WORD_START, token[len(marker):])
    for role, values in smap.items():
        if isinstance(values, str):
            values = [values]
        if token in values:
            return (SPECIAL, role)
    return token


def token_key(token: str, rule: str, *, roles: dict | None = None,
              extra: set | None = None) -> Any:
    """Key of one token string under one of our rules; None means junk.

    Parameters
    ----------
    token : str
        Vocabulary string.
    rule : {"byte_level", "sentencepiece", "wordpiece"}
        Rule (``"mergekit"`` needs the tokenizer: use :func:`normalize_vocabulary`).
    roles : dict, optional
        Special token text -> single role.
    extra : set, optional
        Additional special token texts (keyed by their literal text).

    Returns
    -------
    tuple, str or None

    Examples
    --------
    >>> token_key("Ġhello", "byte_level") == token_key("▁hello", "sentencepiece")
    True
    >>> token_key("Ã©", "byte_level"), token_key("##ing", "wordpiece")
    ('é', 'ing')
    """
    roles, extra = roles or {}, extra or set()
    if token in roles:
        return (SPECIAL, roles[token])
    if token in extra:
        return token
    if rule == "byte_level":
        table = _unicode_to_bytes()
        if not all(c in table for c in token):
            return token  # an added token written as plain text
        raw = bytes(table[c] for c in token)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return (BYTES, raw)
        return (WORD_START, text[1:]) if text.startswith(" ") and len(text) > 1 else text
    if rule == "sentencepiece":
        m = _BYTE_PIECE.match(token)
        if m:
            return (BYTES, bytes([int(m.group(1), 16)]))
        if token.startswith("▁") and len(token) > 1:
            return (WORD_START, token[1:].replace("▁", " "))
        return token.replace("▁", " ")
    if rule == "wordpiece":
        if _UNUSED.match(token):
            return None
        if token.startswith("##") and len(token) > 2:
            return token[2:]
        return (WORD_START, token)
    raise ValueError(f"rule must be one of ('byte_level', 'sentencepiece', 'wordpiece'), "
                     f"got {rule!r}")


def normalize_vocabulary(tokenizer: Any, *, rule: str = "auto",
                         role_map: dict | None = None) -> NormalizedVocab:
    """Map every vocabulary entry of a tokenizer to a key comparable across tokenizers.

    Parameters
    ----------
    tokenizer : tokenizer or dict
        A Hugging Face tokenizer (``get_vocab()``, ``special_tokens_map``, ``backend_tokenizer``),
        or a plain ``{token: id}`` dict (no special tokens then; ``rule="auto"`` reads the
        strings).
    rule : {"auto", "mergekit", "byte_level", "sentencepiece", "wordpiece"}, default="auto"
        ``"auto"`` picks from the tokenizer's model, pre-tokenizer and decoder; ``"mergekit"``
        reproduces mergekit's keys. See the module docstring.
    role_map : dict, optional
        Renames special roles (our rules only), e.g. ``{"cls_token": "bos_token",
        "sep_token": "eos_token"}`` so that BERT's ``[CLS]``/``[SEP]`` match an LM's bos/eos.

    Returns
    -------
    NormalizedVocab

    Raises
    ------
    ValueError
        A tokenizer without a vocabulary, or an unknown ``rule``.

    Warns
    -----
    UserWarning
        ``rule="mergekit"`` on a tokenizer class mergekit does not know (``MERGEKIT_WARNING``).

    Examples
    --------
    >>> nv = normalize_vocabulary({"Ġhello": 0, "hello": 1, "Ġ": 2})
    >>> nv.rule, nv.key_to_id[("word_start", "hello")], nv.key_to_id[" "]
    ('byte_level', 0, 2)
    """
    if not isinstance(rule, str) or rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    vocab = _vocab_of(tokenizer)
    plain = isinstance(tokenizer, dict)
    n_ids = max(int(i) for i in vocab.values()) + 1
    if rule == "auto":
        rule = _infer_rule(tokenizer, vocab)
    key_to_id: dict = {}
    collisions: dict = {}
    junk: list[int] = []
    if rule == "mergekit":
        marker = _mergekit_marker(tokenizer, vocab)
        smap = {} if plain else dict(getattr(tokenizer, "special_tokens_map", None) or {})
        for token, idx in vocab.items():  # get_vocab() order: the later id overwrites
            key = _mergekit_key(token, smap, marker)
            if key in key_to_id:
                collisions.setdefault(key, []).append(key_to_id[key])
            key_to_id[key] = int(idx)
        return NormalizedVocab(key_to_id, rule, collisions, junk, n_ids)
    roles, extra = ({}, set()) if plain else _specials(tokenizer)
    if role_map:
        roles = {text: role_map.get(role, role) for text, role in roles.items()}
    for token, idx in sorted(vocab.items(), key=lambda kv: kv[1]):
        key = token_key(token, rule, roles=roles, extra=extra)
        if key is None:
            junk.append(int(idx))
        elif key in key_to_id:
            collisions.setdefault(key, []).append(int(idx))
        else:
            key_to_id[key] = int(idx)
    return NormalizedVocab(key_to_id, rule, collisions, junk, n_ids)
