"""Score a (transplanted) causal LM by function: next-token loss and bits per byte on text.

Tokenizer transplantation (Goddard & Fernandes Neto, 2025, "Training-Free Tokenizer
Transplantation via Orthogonal Matching Pursuit") changes how text is cut into tokens, so a loss
per token is not comparable across tokenizers. What is comparable is the code length of the
*text*: **bits per byte**

    bpb = Σ_t nats_t / (ln 2 · number of UTF-8 bytes of the text).

Our definitions (the paper reports benchmark accuracies; these are the offline substitutes):

* Every document (or window of ``window`` tokens of it) starts with one **start row**, a vector
  fed as the first input embedding (the base model's own start/BOS row, identical in every arm
  of an experiment), so every text token is predicted and the byte count is the document's.
* **Bytes per token** come from the tokenizer's character offsets: each character belongs to the
  first token whose offset span covers it; characters no token covers (the spaces WordPiece
  drops, say) belong to the next token that owns a character (the last token at the end).
  The token byte counts therefore sum to the UTF-8 length of the (kept part of the) text.
* **Character classes**: digit (Unicode category ``Nd``), letter (``str.isalpha``) and other.
  Each token's nats are spread over its bytes in proportion to their classes, so the per-class
  nats sum to the total and ``Σ_c bytes_c / bytes · bpb_c = bpb``. A token that owns no byte
  (a byte-level piece inside a character another token started) spreads its nats over the
  classes of the characters its span covers.
* **Loss ratio** of an arm to a reference on the same documents = ratio of bpb = ratio of total
  nats (the bytes are the same); 1.00 = no loss.
* **Probability mass on new rows**: the mean over predicted positions of Σ_{v new} p(v | context).
* Intervals: percentile bootstrap over **documents** (paired: the same resampled documents for
  arm and reference), seeded.
"""

from __future__ import annotations

import hashlib
import io
import math
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from mplib.repro import atomic_write, cache_dir, cache_key, numpy_generator

__all__ = [
    "CLASSES",
    "Interval",
    "LossBySplit",
    "TextScore",
    "TokenLosses",
    "bootstrap_bpb",
    "bootstrap_ratio",
    "loss_ratio",
    "score_from_tokens",
    "score_text",
    "score_text_cached",
    "token_class_bytes",
]

CLASSES = ("digit", "letter", "other")
"""Character classes of :func:`token_class_bytes`, in column order."""

LN2 = math.log(2.0)


class TokenLosses(NamedTuple):
    """Per-token results of :func:`score_text` (one row per predicted token)."""

    doc: np.ndarray
    """Document index of each token, shape (n_tokens,), int64."""
    token_id: np.ndarray
    """Target token id, shape (n_tokens,), int64."""
    nats: np.ndarray
    """Next-token loss −ln p(token | start row, previous tokens), shape (n_tokens,), float64."""
    class_bytes: np.ndarray
    """UTF-8 bytes the token owns per class of :data:`CLASSES`, shape (n_tokens, 3), int64."""
    class_weights: np.ndarray
    """Share of the token's nats given to each class, shape (n_tokens, 3), rows sum to 1."""
    new_mass: np.ndarray | None
    """Σ_{v new} p(v | context) at each position, shape (n_tokens,); None without new ids."""
    n_docs: int
    """Number of documents scored (some may hold no token)."""


class LossBySplit(NamedTuple):
    """Mean next-token loss at positions whose target is a new token vs a shared token."""

    new: float
    """Mean nats over positions whose target is a new token (NaN if none)."""
    shared: float
    """Mean nats over the other positions (NaN if none)."""
    n_new: int
    """Number of positions with a new target."""
    n_shared: int
    """Number of positions with a shared target."""


class TextScore(NamedTuple):
    """Result of :func:`score_text`."""

    nats: float
    """Total next-token loss over all documents, in nats."""
    n_bytes: int
    """UTF-8 bytes of the scored text."""
    n_tokens: int
    """Number of predicted tokens."""
    bpb: float
    """Bits per byte, ``nats / (ln 2 · n_bytes)``."""
    bpb_by_class: dict
    """Bits per byte of each class of :data:`CLASSES` (NaN for a class without bytes)."""
    bytes_by_class: dict
    """UTF-8 bytes of each class; they sum to ``n_bytes``."""
    new_row_mass: float | None
    """Mean probability mass on the new rows (None when no new ids were given)."""
    loss_new_vs_shared: LossBySplit | None
    """Loss at new-token vs shared-token targets (None when no new ids were given)."""
    tokens: TokenLosses
    """The per-token arrays everything above is computed from."""


class Interval(NamedTuple):
    """A point estimate with a percentile bootstrap interval."""

    estimate: float
    """The statistic on the full sample."""
    low: float
    """Lower end of the interval."""
    high: float
    """Upper end of the interval."""
    level: float
    """Coverage, e.g. 0.95."""
    n_boot: int
    """Bootstrap resamples drawn."""


# ---------------------------------------------------------------------------------------------
# bytes and classes


def _char_class(ch: str) -> int:
    if unicodedata.category(ch) == "Nd":
        return 0
    return 1 if ch.isalpha() else 2


def token_class_bytes(text: str, offsets: Sequence[tuple[int, int]]) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Split the UTF-8 bytes of ``text`` among its tokens, by character class.

    Parameters
    ----------
    text : str
        The text the tokenizer saw.
    offsets : sequence of (start, end)
        Character offsets of each token, as a fast tokenizer's ``offset_mapping`` returns.

    Returns
    -------
    class_bytes : ndarray of shape (n_tokens, 3)
        Bytes each token owns, per class of :data:`CLASSES` (see the module docstring for the
        ownership rule); the total is ``len(text.encode())`` whenever there is a token.
    class_weights : ndarray of shape (n_tokens, 3)
        Share of each token's loss given to each class; rows sum to 1.

    Examples
    --------
    >>> cb, w = token_class_bytes("ab 12", [(0, 2), (3, 4), (4, 5)])
    >>> cb.tolist()
    [[0, 2, 0], [1, 0, 1], [1, 0, 0]]
    """
    n_tok, n_chr = len(offsets), len(text)
    cls = np.fromiter((_char_class(c) for c in text), dtype=np.int64, count=n_chr)
    nbytes = np.fromiter((len(c.encode("utf-8", "surrogatepass")) for c in text), dtype=np.int64,
                         count=n_chr)
    owner = np.full(n_chr, -1, dtype=np.int64)
    spans = np.zeros((n_tok, 3), dtype=np.float64)
    for t, (s, e) in enumerate(offsets):
        s, e = max(int(s), 0), min(int(e), n_chr)
        if e > s:
            seg = owner[s:e]
            seg[seg < 0] = t
            np.add.at(spans[t], cls[s:e], nbytes[s:e])
    class_bytes = np.zeros((n_tok, 3), dtype=np.int64)
    if n_tok == 0:
        return class_bytes, spans
    # unowned characters go to the next owning token; trailing ones to the last token
    filled = owner.copy()
    nxt = n_tok - 1
    for i in range(n_chr - 1, -1, -1):
        if filled[i] < 0:
            filled[i] = nxt
        else:
            nxt = filled[i]
    np.add.at(class_bytes, (filled, cls), nbytes)
    weights = class_bytes.astype(np.float64)
    empty = weights.sum(1) == 0
    weights[empty] = spans[empty]
    still = weights.sum(1) == 0
    for t in np.flatnonzero(still):  # no span at all: the class of the character at its start
        s = min(max(int(offsets[t][0]), 0), n_chr - 1) if n_chr else 0
        weights[t, cls[s] if n_chr else 2] = 1.0
    return class_bytes, weights / weights.sum(1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# scoring


def _texts(documents: Any) -> list[str]:
    if isinstance(documents, str) or not isinstance(documents, Sequence):
        raise TypeError("documents must be a sequence of strings or Document records, got "
                        f"{type(documents).__name__}")
    if len(documents) == 0:
        raise ValueError("documents must hold at least one document")
    texts = [d if isinstance(d, str) else getattr(d, "text", None) for d in documents]
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"documents[{i}] must be a str or have a .text, got "
                            f"{type(documents[i]).__name__}")
        if not t:
            raise ValueError(f"documents[{i}] is empty")
    return texts


def _encode(tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    try:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, TypeError) as err:
        raise ValueError("tokenizer must be a fast tokenizer that returns offset_mapping") from err
    if "offset_mapping" not in enc:
        raise ValueError("tokenizer must be a fast tokenizer that returns offset_mapping")
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


@torch.no_grad()
def _window_losses(model: Any, start: torch.Tensor, windows: list[list[int]],
                   new_index: torch.Tensor | None, batch_size: int,
                   logit_chunk: int) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    if head is None:
        raise ValueError("model has no output embeddings (lm_head): it cannot be scored")
    dtype = embed.weight.dtype
    nats_out: list[np.ndarray] = []
    mass_out: list[np.ndarray] | None = [] if new_index is not None else None
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))  # little padding
    results: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        L = len(windows[idx[0]])
        ids = torch.zeros((len(idx), L), dtype=torch.long)
        mask = torch.zeros((len(idx), L), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, : len(windows[i])] = torch.tensor(windows[i])
            mask[r, : len(windows[i])] = 1
        x = embed(ids[:, :-1]) if L > 1 else ids.new_zeros((len(idx), 0)).float()
        x = torch.cat([start.to(dtype).expand(len(idx), 1, -1), x.to(dtype)], dim=1)
        out = model(inputs_embeds=x, attention_mask=mask, output_hidden_states=True,
                    logits_to_keep=1)
        h = out.hidden_states[-1]  # final norm applied
        for r, i in enumerate(idx):
            n = len(windows[i])
            hr, tr = h[r, :n], ids[r, :n]
            nats = torch.empty(n, dtype=torch.float64)
            mass = torch.empty(n, dtype=torch.float64) if new_index is not None else None
            for s in range(0, n, logit_chunk):
                lp = torch.log_softmax(head(hr[s : s + logit_chunk]).double(), dim=-1)
                nats[s : s + logit_chunk] = -lp.gather(1, tr[s : s + logit_chunk, None])[:, 0]
                if mass is not None:
                    mass[s : s + logit_chunk] = lp[:, new_index].exp().sum(1)
            results[i] = (nats.numpy(), None if mass is None else mass.numpy())
    for i in range(len(windows)):
        nats_out.append(results[i][0])
        if mass_out is not None:
            mass_out.append(results[i][1])
    return nats_out, mass_out


def score_text(
    model: Any,
    tokenizer: Any,
    documents: Sequence[Any],
    *,
    start_row: Any,
    new_ids: Sequence[int] | np.ndarray | None = None,
    window: int = 256,
    max_tokens: int | None = None,
    batch_size: int = 4,
    logit_chunk: int = 256,
) -> TextScore:
    """Next-token loss and bits per byte of a causal LM on documents, by character class.

    Parameters
    ----------
    model : transformers causal LM
        Scored through ``inputs_embeds``: ``get_input_embeddings()`` embeds the tokens,
        ``get_output_embeddings()`` gives the logits from the last hidden state (final norm
        applied). Its vocabulary must be the tokenizer's.
    tokenizer : fast tokenizer
        Must return ``offset_mapping``; called without special tokens.
    documents : sequence of str or of records with a ``.text``
        Held-out documents, scored independently.
    start_row : array-like of shape (d_model,)
        Input vector placed before every window (the base model's own start row, the same in
        every arm of an experiment).
    new_ids : sequence of int, optional
        Ids of the new (approximated) rows: enables ``new_row_mass`` and
        ``loss_new_vs_shared``.
    window : int, default=256
        Tokens per forward pass; a longer document is cut into windows, each after the start
        row.
    max_tokens : int, optional
        Keep only the first ``max_tokens`` tokens of each document (its bytes beyond are dropped
        from the byte count too).
    batch_size : int, default=4
        Windows per forward pass.
    logit_chunk : int, default=256
        Positions per log-softmax over the vocabulary (bounds memory).

    Returns
    -------
    TextScore

    Notes
    -----
    Definitions in the module docstring (bits per byte, byte ownership, classes).
    """
    texts = _texts(documents)
    for name, v in (("window", window), ("batch_size", batch_size), ("logit_chunk", logit_chunk)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                   or max_tokens < 1):
        raise ValueError(f"max_tokens must be None or a positive int, got {max_tokens!r}")
    embed = model.get_input_embeddings()
    V, d = embed.weight.shape
    start = torch.as_tensor(np.asarray(start_row, dtype=np.float64)).reshape(-1)
    if start.shape[0] != d:
        raise ValueError(f"start_row must have d_model = {d} entries, got {start.shape[0]}")
    new_index = None
    if new_ids is not None:
        new_arr = np.unique(np.asarray(new_ids, dtype=np.int64))
        if new_arr.size and (new_arr.min() < 0 or new_arr.max() >= V):
            raise ValueError(f"new_ids must lie in [0, {V}), got range "
                             f"[{new_arr.min()}, {new_arr.max()}]")
        new_index = torch.as_tensor(new_arr)
    docs, ids_all, cb_all, w_all, windows = [], [], [], [], []
    for di, text in enumerate(texts):
        ids, offsets = _encode(tokenizer, text)
        cb, w = token_class_bytes(text, offsets)
        if max_tokens is not None:
            ids, cb, w = ids[:max_tokens], cb[:max_tokens], w[:max_tokens]
        if ids and max(ids) >= V:
            raise ValueError(f"tokenizer produced id {max(ids)} but the model has {V} rows")
        docs.append(np.full(len(ids), di, dtype=np.int64))
        ids_all.append(np.asarray(ids, dtype=np.int64))
        cb_all.append(cb)
        w_all.append(w)
        windows += [ids[s : s + window] for s in range(0, len(ids), window)]
    if not windows:
        raise ValueError("documents produced no tokens")
    nats, mass = _window_losses(model, start, windows, new_index, batch_size, logit_chunk)
    tokens = TokenLosses(
        doc=np.concatenate(docs), token_id=np.concatenate(ids_all), nats=np.concatenate(nats),
        class_bytes=np.concatenate(cb_all), class_weights=np.concatenate(w_all),
        new_mass=None if mass is None else np.concatenate(mass), n_docs=len(texts))
    return score_from_tokens(tokens, new_ids=None if new_index is None else new_index.numpy())


def score_from_tokens(tokens: TokenLosses, *, new_ids: Any = None,
                      docs: Sequence[int] | np.ndarray | None = None) -> TextScore:
    """Aggregate per-token losses into a :class:`TextScore`, optionally on a subset of documents.

    Parameters
    ----------
    tokens : TokenLosses
        From :func:`score_text` (or its cache).
    new_ids : array-like of int, optional
        Ids of the new rows (for ``loss_new_vs_shared``; ``new_row_mass`` needs
        ``tokens.new_mass``).
    docs : array-like of int, optional
        Keep only these document indices (duplicates count once).

    Returns
    -------
    TextScore
    """
    if not isinstance(tokens, TokenLosses):
        raise TypeError(f"tokens must be a TokenLosses, got {type(tokens).__name__}")
    if docs is not None:
        keep = np.isin(tokens.doc, np.asarray(docs, dtype=np.int64))
        tokens = TokenLosses(*(a[keep] if isinstance(a, np.ndarray) else a for a in tokens))
    n_bytes_c = tokens.class_bytes.sum(0)
    n_bytes = int(n_bytes_c.sum())
    if n_bytes == 0:
        raise ValueError("no bytes to score (empty selection of documents?)")
    nats_c = (tokens.nats[:, None] * tokens.class_weights).sum(0)
    total = float(tokens.nats.sum())
    bpb_c = {c: (float(nats_c[i] / (LN2 * n_bytes_c[i])) if n_bytes_c[i] else float("nan"))
             for i, c in enumerate(CLASSES)}
    split = None
    if new_ids is not None:
        is_new = np.isin(tokens.token_id, np.asarray(new_ids, dtype=np.int64))
        split = LossBySplit(
            new=float(tokens.nats[is_new].mean()) if is_new.any() else float("nan"),
            shared=float(tokens.nats[~is_new].mean()) if (~is_new).any() else float("nan"),
            n_new=int(is_new.sum()), n_shared=int((~is_new).sum()))
    mass = None if tokens.new_mass is None or not len(tokens.nats) else float(
        tokens.new_mass.mean())
    return TextScore(nats=total, n_bytes=n_bytes, n_tokens=len(tokens.nats),
                     bpb=total / (LN2 * n_bytes), bpb_by_class=bpb_c,
                     bytes_by_class={c: int(n_bytes_c[i]) for i, c in enumerate(CLASSES)},
                     new_row_mass=mass, loss_new_vs_shared=split, tokens=tokens)


# ---------------------------------------------------------------------------------------------
# ratios and bootstrap over documents


def _per_doc(score: TextScore) -> tuple[np.ndarray, np.ndarray]:
    t = score.tokens
    nats = np.zeros((t.n_docs, 4))
    nbytes = np.zeros((t.n_docs, 4))
    np.add.at(nats, t.doc, np.column_stack([t.nats[:, None] * t.class_weights, t.nats]))
    cb = t.class_bytes.astype(np.float64)
    np.add.at(nbytes, t.doc, np.column_stack([cb, cb.sum(1)]))
    return nats, nbytes


def _column(cls: str | None) -> int:
    if cls is None:
        return 3
    if cls not in CLASSES:
        raise ValueError(f"cls must be None or one of {CLASSES}, got {cls!r}")
    return CLASSES.index(cls)


def _check_boot(n_boot: int, level: float) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")


def _bootstrap(stat: Callable[[np.ndarray], float], n_docs: int, n_boot: int, level: float,
               seed: Any) -> Interval:
    _check_boot(n_boot, level)
    rng = numpy_generator(seed)
    est = stat(np.ones(n_docs))
    counts = rng.multinomial(n_docs, np.full(n_docs, 1.0 / n_docs), size=n_boot)
    vals = np.array([stat(c) for c in counts.astype(np.float64)])
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return Interval(est, float("nan"), float("nan"), level, n_boot)
    a = (1 - level) / 2
    return Interval(float(est), float(np.quantile(vals, a)), float(np.quantile(vals, 1 - a)),
                    level, n_boot)


def bootstrap_bpb(score: TextScore, *, cls: str | None = None, n_boot: int = 1000,
                  level: float = 0.95, seed: Any = 0) -> Interval:
    """Bits per byte (total, or of one class) with a bootstrap interval over documents.

    Parameters
    ----------
    score : TextScore
    cls : {None, "digit", "letter", "other"}, default=None
        None for the total.
    n_boot : int, default=1000
        Resamples (documents drawn with replacement).
    level : float, default=0.95
    seed : int or Generator, default=0

    Returns
    -------
    Interval
    """
    j = _column(cls)
    nats, nbytes = _per_doc(score)

    def stat(w):
        b = w @ nbytes[:, j]
        return float(w @ nats[:, j] / (LN2 * b)) if b > 0 else float("nan")

    return _bootstrap(stat, len(nats), n_boot, level, seed)


def loss_ratio(score: TextScore, reference: TextScore, *, cls: str | None = None) -> float:
    """Ratio of bits per byte (= ratio of total nats on the same text) of an arm to a reference.

    Raises ``ValueError`` when the two were not scored on the same bytes.
    """
    _same_text(score, reference)
    j = _column(cls)
    a = score.bpb if j == 3 else score.bpb_by_class[CLASSES[j]]
    b = reference.bpb if j == 3 else reference.bpb_by_class[CLASSES[j]]
    return float(a / b)


def _same_text(score: TextScore, reference: TextScore) -> None:
    for name, s in (("score", score), ("reference", reference)):
        if not isinstance(s, TextScore):
            raise TypeError(f"{name} must be a TextScore, got {type(s).__name__}")
    if score.tokens.n_docs != reference.tokens.n_docs:
        raise ValueError(f"score and reference cover different documents "
                         f"({score.tokens.n_docs} vs {reference.tokens.n_docs})")


def bootstrap_ratio(score: TextScore, reference: TextScore, *, cls: str | None = None,
                    n_boot: int = 1000, level: float = 0.95, seed: Any = 0) -> Interval:
    """Loss ratio of an arm to a reference with a paired bootstrap interval over documents.

    Parameters
    ----------
    score, reference : TextScore
        Scored on the same documents (possibly with different tokenizers).
    cls : {None, "digit", "letter", "other"}, default=None
        Ratio of one class's bits per byte instead of the total.
    n_boot, level, seed
        As in :func:`bootstrap_bpb`; the same resampled documents enter both.

    Returns
    -------
    Interval
    """
    _same_text(score, reference)
    j = _column(cls)
    na, ba = _per_doc(score)
    nr, br = _per_doc(reference)

    def stat(w):
        den = (w @ nr[:, j]) / max(w @ br[:, j], 1e-300)
        return float((w @ na[:, j]) / max(w @ ba[:, j], 1e-300) / den) if den > 0 else float(
            "nan")

    return _bootstrap(stat, len(na), n_boot, level, seed)


# ---------------------------------------------------------------------------------------------
# cache


def _tokenizer_identity(tokenizer: Any) -> list:
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    h = hashlib.sha256(repr(sorted(vocab.items())).encode()).hexdigest()[:16]
    return [type(tokenizer).__name__, len(vocab), h]


def score_text_cached(model: Any, tokenizer: Any, documents: Sequence[Any], *, stem: str,
                      identity: Any, start_row: Any, new_ids: Any = None,
                      **options: Any) -> TextScore:
    """:func:`score_text` with the per-token losses cached under ``data/cache/<stem>/``.

    Meant for the original model, whose losses every arm of an experiment reuses (and for arms
    whose rows are cached too). The file is ``scores-<key>.npz``; ``key`` hashes ``identity``
    (what identifies the model's weights: name, method, k, seed, …), the tokenizer's vocabulary,
    the documents' text, the start row, the new ids and ``options``; it is written atomically.

    Parameters
    ----------
    model, tokenizer, documents, start_row, new_ids, **options
        As in :func:`score_text`.
    stem : str
        Cache folder (a notebook stem).
    identity : JSON-able
        Identifies the model's weights.

    Returns
    -------
    TextScore
    """
    texts = _texts(documents)
    new_list = None if new_ids is None else np.unique(np.asarray(new_ids, np.int64))
    start = np.asarray(start_row, dtype=np.float64).reshape(-1)
    key = cache_key("score_text", identity, _tokenizer_identity(tokenizer),
                    hashlib.sha256("\x00".join(texts).encode()).hexdigest(),
                    hashlib.sha256(start.tobytes()).hexdigest(),
                    None if new_list is None else hashlib.sha256(new_list.tobytes()).hexdigest(),
                    options)
    path = cache_dir(stem) / f"scores-{key}.npz"
    if path.exists():
        z = np.load(path)
        tokens = TokenLosses(z["doc"], z["token_id"], z["nats"], z["class_bytes"],
                             z["class_weights"], z["new_mass"] if "new_mass" in z else None,
                             int(z["n_docs"]))
        return score_from_tokens(tokens, new_ids=new_list)
    score = score_text(model, tokenizer, texts, start_row=start, new_ids=new_list, **options)
    arrays = {k: v for k, v in score.tokens._asdict().items() if v is not None}

    def write(f):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        f.write(buf.getvalue())

    atomic_write(path, write)
    return score
