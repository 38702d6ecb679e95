"""House style and saving of figures with their numbers (PNG, PDF, then JSON last)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib as mpl

from mplib.repro import atomic_write, atomic_write_json, figures_dir, provenance

__all__ = ["FIGSIZE", "save_extra_figure", "save_figure", "use_style"]

STYLE = Path(__file__).with_name("mplib.mplstyle")

#: Figure sizes in inches: one column, one and a half, two columns (NeurIPS text width 5.5 in).
FIGSIZE = {"single": (3.25, 2.6), "wide": (5.5, 2.6), "full": (7.0, 3.2), "square": (3.0, 3.0)}


def use_style() -> None:
    """Apply the mplib style (fonts, sizes, colour cycle) to matplotlib's global settings."""
    mpl.style.use(STYLE)


def save_figure(
    fig: Any,
    stem: str,
    *,
    preset: str,
    results: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    substitute: bool | str = False,
) -> dict[str, Path]:
    """Save a figure as PNG and PDF, then its numbers as JSON (written last).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    stem : str
        Notebook stem, e.g. ``"fig10_tree"``; names the three files.
    preset : str
        ``smoke``, ``quick`` or ``full``: the files go to ``figures/<preset>/``.
    results : mapping
        Every number the figure shows (the paper's value beside ours where it has one); stored
        at the top level of the JSON.
    params : mapping, optional
        The notebook's parameters, stored under ``provenance``.
    substitute : bool or str, default=False
        Whether (or how) data or model are an offline substitute for the paper's.

    Returns
    -------
    dict
        Paths of the ``png``, ``pdf`` and ``json`` files.
    """
    if "provenance" in results or "stem" in results:
        raise ValueError("results may not use the reserved keys 'stem' and 'provenance'")
    paths = _save_images(fig, stem, preset)
    paths["json"] = figures_dir(preset) / f"{stem}.json"
    record = {
        "stem": stem,
        "preset": preset,
        **results,
        "provenance": provenance(params, substitute=substitute),
    }
    atomic_write_json(paths["json"], record)
    return paths


def save_extra_figure(fig: Any, name: str, *, stem: str, preset: str) -> dict[str, Path]:
    """Save a supplementary figure of notebook ``stem`` as ``<stem>-<name>.png`` and ``.pdf``.

    Its numbers belong in the notebook's own JSON (:func:`save_figure`, called last).
    """
    if not name or not all(c.isalnum() or c in "._" for c in name):
        raise ValueError(f"name must hold letters, digits, '.' and '_' only, got {name!r}")
    return _save_images(fig, f"{stem}-{name}", preset)


def _save_images(fig: Any, base: str, preset: str) -> dict[str, Path]:
    out = figures_dir(preset)
    paths = {ext: out / f"{base}.{ext}" for ext in ("png", "pdf")}
    for ext, path in paths.items():
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, metadata=None if ext == "png" else {"CreationDate": None})
        atomic_write(path, lambda f, b=buf: f.write(b.getvalue()))
    return paths
