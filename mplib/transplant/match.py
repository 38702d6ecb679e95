"""Anchor set, exact copies and new tokens between a base and a donor vocabulary.

Tokenizer transplantation (Goddard & Fernandes Neto, arXiv 2506.06607, 2025, as implemented in
mergekit's ``tokensurgeon``): the **anchors** are every key present in both normalised
vocabularies, with no frequency or quality selection, keeping only ids below each matrix's row
count, sorted by donor id. A donor token whose key is in the base vocabulary gets the base row
copied verbatim; every other donor token with a key is **new** and gets approximated.

Optional (off by default, mergekit's ``--byte-match`` / ``--prefix-match``): a new token may
instead copy the base row of its single-byte counterpart (``<0xNN>`` ↔ the character) or of its
longest proper prefix present in the base. Those candidate copies are listed separately
(``byte_pairs``, ``prefix_pairs``) so that each matrix can use them or not.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from mplib.transplant.vocab import BYTES, SPECIAL, NormalizedVocab

__all__ = ["VocabMatch", "match_vocabularies"]


class VocabMatch(NamedTuple):
    """Donor-to-base correspondence (all ids are int64 arrays)."""

    exact: np.ndarray
    """``(donor_id, base_id)`` pairs (n_exact, 2) whose base row is copied verbatim; sorted by
    donor id. Equal to ``anchors`` unless ``hidden`` tokens were held out of both."""
    anchors: np.ndarray
    """``(donor_id, base_id)`` pairs (n_anchors, 2): the pursuit's dictionary, by donor id."""
    new: np.ndarray
    """Donor ids to approximate (n_new,), sorted."""
    junk: np.ndarray
    """Donor ids left as zero rows (n_junk,), sorted: junk keys, ids at or beyond
    ``donor_rows``, and (with the Magikarp filter) tokens not well trained in either model."""
    n_rows: int
    """Rows of the new matrices: ``max(donor id) + 1`` over the donor vocabulary."""
    byte_pairs: np.ndarray
    """``(donor_id, base_id)`` optional byte-match copies for new tokens (n, 2)."""
    prefix_pairs: np.ndarray
    """``(donor_id, base_id)`` optional longest-prefix copies for new tokens (n, 2)."""
    hidden: np.ndarray
    """Shared donor ids held out of the anchors (approximated; held-out evaluation), sorted."""
    n_collisions: int
    """Donor ids that lost their key to another id of the same vocabulary (approximated)."""


def _pairs(items: list[tuple[int, int]]) -> np.ndarray:
    return np.array(sorted(items), dtype=np.int64).reshape(-1, 2)


def _ids(items: Any) -> np.ndarray:
    return np.array(sorted(set(int(i) for i in items)), dtype=np.int64)


def _ok_set(mask: Any, name: str) -> set[int] | None:
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype == bool:
        return set(np.flatnonzero(arr).tolist())
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a boolean mask or a list of token ids, got dtype "
                        f"{arr.dtype} and shape {arr.shape}")
    return set(arr.tolist())


def _byte_counterpart(key: Any) -> Any:
    """Return the key of the same single byte written the other way (byte piece ↔ character)."""
    if isinstance(key, tuple) and key[0] == BYTES and len(key[1]) == 1 and key[1][0] < 0x80:
        return key[1].decode("ascii")
    if isinstance(key, str) and len(key) == 1 and ord(key) < 0x80:
        return (BYTES, key.encode("ascii"))
    return None


def _prefixes(key: Any):
    """Proper prefixes of a key, longest first, never whitespace-only (mergekit's rule)."""
    marker, text = (key if isinstance(key, tuple) else (None, key))
    if marker in (SPECIAL, BYTES) or not isinstance(text, str):
        return
    for i in range(len(text) - 1, 0, -1):
        prefix = text[:i]
        if not prefix.strip():
            break
        yield (marker, prefix) if marker is not None else prefix


def match_vocabularies(base: NormalizedVocab, donor: NormalizedVocab, *, base_rows: int,
                       donor_rows: int, magikarp: Any = None, hidden: Any = None
                       ) -> VocabMatch:
    """Match a donor vocabulary against a base vocabulary.

    Parameters
    ----------
    base, donor : NormalizedVocab
        From :func:`~mplib.transplant.normalize_vocabulary` (the same rule family on both
        sides, or the keys will not meet).
    base_rows, donor_rows : int
        Row counts of the base and donor embedding matrices; ids at or beyond them are padding
        (never anchors; donor ids beyond ``donor_rows`` become junk).
    magikarp : tuple (base_ok, donor_ok), optional
        The well-trained-token filter (mergekit's ``--magikarp``), as two boolean masks over
        rows or two lists of well-trained ids. Anchors and copies are then restricted to tokens
        well trained in **both** models, and donor tokens well trained in neither model become
        junk. Off (None) by default.
    hidden : iterable of int, optional
        Donor ids of shared tokens to hold out of the anchors and approximate instead (the
        held-out evaluation). Ids that are not shared are ignored.

    Returns
    -------
    VocabMatch

    Raises
    ------
    ValueError
        Non-positive row counts.
    TypeError
        ``base``/``donor`` not a :class:`NormalizedVocab`, or a malformed ``magikarp``.

    Examples
    --------
    >>> from mplib.transplant import normalize_vocabulary
    >>> b = normalize_vocabulary({"Ġthe": 0, "Ġcat": 1, "s": 2})
    >>> d = normalize_vocabulary({"Ġcat": 0, "Ġcats": 1, "Ġthe": 2})
    >>> m = match_vocabularies(b, d, base_rows=3, donor_rows=3)
    >>> m.anchors.tolist(), m.new.tolist()
    ([[0, 1], [2, 0]], [1])
    """
    for name, vocab in (("base", base), ("donor", donor)):
        if not isinstance(vocab, NormalizedVocab):
            raise TypeError(f"{name} must be a NormalizedVocab (from normalize_vocabulary), "
                            f"got {type(vocab).__name__}")
    for name, val in (("base_rows", base_rows), ("donor_rows", donor_rows)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val <= 0:
            raise ValueError(f"{name} must be a positive row count, got {val!r}")
    if magikarp is not None and (not isinstance(magikarp, (tuple, list)) or len(magikarp) != 2):
        raise TypeError("magikarp must be a pair (base_ok, donor_ok), got "
                        f"{type(magikarp).__name__}")
    base_ok = donor_ok = None
    if magikarp is not None:
        base_ok = _ok_set(magikarp[0], "magikarp[0]")
        donor_ok = _ok_set(magikarp[1], "magikarp[1]")
    held = set() if hidden is None else {int(h) for h in hidden}
    base_keys = {k: b for k, b in base.key_to_id.items() if b < base_rows
                 and (base_ok is None or b in base_ok)}
    anchors, new, junk = [], [], list(donor.junk_ids)
    for key, d in donor.key_to_id.items():
        if d >= donor_rows:
            junk.append(d)
            continue
        b = base.key_to_id.get(key)
        if magikarp is not None and d not in donor_ok and (
                b is None or b >= base_rows or b not in base_ok):
            junk.append(d)  # well trained in neither model
            continue
        if key in base_keys and (donor_ok is None or d in donor_ok) and d not in held:
            anchors.append((d, base_keys[key]))
        else:
            new.append(d)
    losers = [i for ids in donor.collisions.values() for i in ids]
    junk.extend(i for i in losers if i >= donor_rows)
    new.extend(i for i in losers if i < donor_rows)
    anchor_arr = _pairs(anchors)
    new_ids = _ids(new)
    id_to_key = {d: key for key, d in donor.key_to_id.items()}
    byte_pairs, prefix_pairs = [], []
    for d in new_ids.tolist():
        key = id_to_key.get(d)
        if key is None:
            continue
        alt = _byte_counterpart(key)
        if alt is not None and alt in base_keys:
            byte_pairs.append((d, base_keys[alt]))
        for prefix in _prefixes(key):
            if prefix in base_keys:
                prefix_pairs.append((d, base_keys[prefix]))
                break
    shared_hidden = {d for d in held if d in id_to_key and id_to_key[d] in base_keys}
    return VocabMatch(
        exact=anchor_arr.copy(), anchors=anchor_arr, new=new_ids, junk=_ids(junk),
        n_rows=int(donor.n_ids or (max(donor.key_to_id.values(), default=-1) + 1)),
        byte_pairs=_pairs(byte_pairs), prefix_pairs=_pairs(prefix_pairs),
        hidden=_ids(shared_hidden), n_collisions=len(losers),
    )
