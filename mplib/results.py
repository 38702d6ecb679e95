"""The claim record every notebook's JSON carries, and its validation.

Each notebook checks the paper's claims on its own numbers and stores them as a top-level
``"claims"`` list of dicts, one per claim, with exactly these keys:

``id`` (str)
    Short identifier, unique within the notebook (``"mp_exact_low_cosine"``).
``text`` (str)
    The claim as the paper makes it.
``paper_value`` (number, str or None)
    The paper's number (or a short qualitative statement when it prints none).
``ours`` (number, str or None)
    Our number for the same quantity (None when the preset cannot test the claim).
``verdict`` (str)
    ``"reproduced"``, ``"partly"``, ``"not"`` or ``"not-testable"``.
``note`` (str)
    What ``ours`` measures, the threshold behind the verdict, any further numbers.

:func:`claim` builds one record and checks it; :func:`validate_claims` checks a whole list;
:func:`validate_record` checks a notebook's JSON (stem, preset, claims, provenance).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CLAIM_KEYS",
    "VERDICTS",
    "claim",
    "fmt_value",
    "format_claims",
    "validate_claims",
    "validate_record",
    "verdict_of",
]

#: The verdicts a claim may carry, best first.
VERDICTS = ("reproduced", "partly", "not", "not-testable")
#: The keys of a claim record, in order.
CLAIM_KEYS = ("id", "text", "paper_value", "ours", "verdict", "note")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def verdict_of(ok: bool | None, *, partly: bool = False) -> str:
    """Map a test outcome to a verdict.

    Parameters
    ----------
    ok : bool or None
        True: reproduced; False: not (or ``"partly"`` when ``partly``); None: not testable.
    partly : bool, default=False
        Whether a failed test still holds in part.

    Returns
    -------
    str
        One of :data:`VERDICTS`.

    Examples
    --------
    >>> verdict_of(True), verdict_of(False), verdict_of(None), verdict_of(False, partly=True)
    ('reproduced', 'not', 'not-testable', 'partly')
    """
    if ok is None:
        return "not-testable"
    if not isinstance(ok, bool):
        raise TypeError(f"ok must be a bool or None, got {type(ok).__name__}")
    return "reproduced" if ok else ("partly" if partly else "not")


def _value(v: Any, name: str) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        raise TypeError(f"{name} must be a number, a string or None, not a bool ({v!r})")
    try:
        x = float(v)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a number, a string or None, got {type(v).__name__}") \
            from err
    if not math.isfinite(x):
        return None
    return int(v) if float(x).is_integer() and isinstance(v, int) else x


def claim(
    id: str,  # noqa: A002 - the schema's field name
    text: str,
    *,
    paper_value: Any,
    ours: Any,
    verdict: str | bool | None,
    note: str = "",
    partly: bool = False,
) -> dict[str, Any]:
    """Build one claim record (see the module docstring) and check it.

    Parameters
    ----------
    id : str
        Identifier, lower case letters, digits, ``_``, ``.``, ``-``.
    text : str
        The paper's claim.
    paper_value : number, str or None
        The paper's number, or its qualitative statement.
    ours : number, str or None
        Our number; numpy scalars are converted, NaN becomes None.
    verdict : str, bool or None
        One of :data:`VERDICTS`, or a test outcome passed through :func:`verdict_of`.
    note : str, default=""
        What ``ours`` measures and the threshold behind the verdict.
    partly : bool, default=False
        With a boolean ``verdict``: a failed test still holds in part (``"partly"``).

    Returns
    -------
    dict
        The record, keys in :data:`CLAIM_KEYS` order.

    Examples
    --------
    >>> claim("l0", "expected L0 is 1.36", paper_value=1.36, ours=1.36, verdict=True)["verdict"]
    'reproduced'
    """
    if not isinstance(verdict, str):
        verdict = verdict_of(None if verdict is None else bool(verdict), partly=partly)
    record = {"id": id, "text": text, "paper_value": _value(paper_value, "paper_value"),
              "ours": _value(ours, "ours"), "verdict": verdict, "note": note}
    validate_claims([record])
    return record


def validate_claims(claims: Any) -> list[dict[str, Any]]:
    """Check a ``claims`` list against the schema; raise ``ValueError`` naming the problem.

    Parameters
    ----------
    claims : list of dict

    Returns
    -------
    list of dict
        ``claims`` itself.
    """
    if not isinstance(claims, list):
        raise ValueError(f"claims must be a list of dicts, got {type(claims).__name__}")
    seen: set[str] = set()
    for i, c in enumerate(claims):
        if not isinstance(c, Mapping):
            raise ValueError(f"claims[{i}] must be a dict, got {type(c).__name__}")
        keys = set(c)
        if keys != set(CLAIM_KEYS):
            raise ValueError(
                f"claims[{i}] must have exactly the keys {list(CLAIM_KEYS)}; missing "
                f"{sorted(set(CLAIM_KEYS) - keys)}, extra {sorted(keys - set(CLAIM_KEYS))}"
            )
        cid = c["id"]
        if not isinstance(cid, str) or not _ID.match(cid):
            raise ValueError(f"claims[{i}].id must be a lower-case identifier, got {cid!r}")
        if cid in seen:
            raise ValueError(f"claims[{i}].id {cid!r} is not unique")
        seen.add(cid)
        for key in ("text", "note"):
            if not isinstance(c[key], str):
                raise ValueError(f"claims[{i}].{key} must be a str, got {type(c[key]).__name__}")
        if not c["text"].strip():
            raise ValueError(f"claims[{i}].text must not be empty")
        for key in ("paper_value", "ours"):
            v = c[key]
            ok = v is None or isinstance(v, str) or (
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v))
            if not ok:
                raise ValueError(
                    f"claims[{i}].{key} must be a finite number, a str or None, got {v!r}")
        if c["verdict"] not in VERDICTS:
            raise ValueError(
                f"claims[{i}].verdict must be one of {VERDICTS}, got {c['verdict']!r}")
    return claims


def validate_record(record: Any) -> dict[str, Any]:
    """Check a notebook's JSON record: ``stem``, ``preset``, ``claims``, ``provenance``.

    Raises ``ValueError`` naming the first problem; returns ``record``.
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"record must be a dict, got {type(record).__name__}")
    for key in ("stem", "preset", "claims", "provenance"):
        if key not in record:
            raise ValueError(f"record has no {key!r}")
    for key in ("stem", "preset"):
        if not isinstance(record[key], str) or not record[key]:
            raise ValueError(f"record[{key!r}] must be a non-empty str, got {record[key]!r}")
    validate_claims(record["claims"])
    prov = record["provenance"]
    if not isinstance(prov, Mapping) or "params" not in prov or "substitute" not in prov:
        raise ValueError("record['provenance'] must hold 'params' and 'substitute'")
    return dict(record)


def fmt_value(v: Any) -> str:
    """Format a claim value for a table: 3 significant digits, "—" for None.

    Examples
    --------
    >>> fmt_value(0.00049), fmt_value(0.21), fmt_value(3), fmt_value(None)
    ('4.90e-04', '0.21', '3', '—')
    """
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if isinstance(v, int) or (float(v).is_integer() and abs(v) < 1e6):
        return f"{int(v):d}"
    return f"{v:.3g}" if 1e-2 <= abs(v) < 1e4 else f"{v:.2e}"


def format_claims(claims: Sequence[Mapping[str, Any]]) -> str:
    """Render claims as a plain-text table (what a notebook prints at its end)."""
    lines = []
    for c in claims:
        lines.append(f"[{c['verdict'].upper():>12}] {c['text']}\n"
                     f"{'':15}paper {fmt_value(c['paper_value'])} | ours {fmt_value(c['ours'])}"
                     + (f" | {c['note']}" if c["note"] else ""))
    return "\n".join(lines)
