"""House style and saving of figures with their numbers (PNG, PDF, then JSON last).

Where the files go: under ``make`` (which sets ``$MPLIB_FIGURES``) into the build's staging
folder, moved to ``figures/<preset>/`` on success; run any other way (Jupyter, ``python``) into
the scratch folder ``figures/scratch/<preset>/`` (:func:`mplib.repro.output_dir`), so that an
interactive run never overwrites a built output. Every figure of a preset other than ``full``
carries a small grey stamp, "preset: quick", in its lower right corner.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib as mpl

from mplib.repro import atomic_write, atomic_write_json, output_dir, provenance
from mplib.results import validate_claims

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
    paper: str | None = None,
    figure: str | None = None,
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
    paper : str, optional
        Short name of the paper the figure reproduces (e.g. ``"Costa et al. 2025 (MP-SAE)"``),
        for the results page; stored at the top level.
    figure : str, optional
        The paper's item (e.g. ``"Fig. 4"``, ``"Table 1"``), for the results page.

    Notes
    -----
    ``results["claims"]``, when given, must follow the claim schema of :mod:`mplib.results`
    (checked here, so a malformed claim fails the build). Figures of a preset other than
    ``full`` get a "preset: <name>" stamp in their lower right corner.

    Returns
    -------
    dict
        Paths of the ``png``, ``pdf`` and ``json`` files.
    """
    reserved = {"provenance", "stem", "preset", "paper", "figure"} & set(results)
    if reserved:
        raise ValueError(f"results may not use the reserved keys {sorted(reserved)}")
    if "claims" in results:
        validate_claims(results["claims"])
    paths = _save_images(fig, stem, preset)
    paths["json"] = output_dir(preset) / f"{stem}.json"
    meta = {k: v for k, v in (("paper", paper), ("figure", figure)) if v is not None}
    record = {
        "stem": stem,
        "preset": preset,
        **meta,
        **results,
        "provenance": provenance(params, substitute=substitute),
    }
    atomic_write_json(paths["json"], record)
    _announce(paths["json"].parent)
    return paths


def save_extra_figure(fig: Any, name: str, *, stem: str, preset: str) -> dict[str, Path]:
    """Save a supplementary figure of notebook ``stem`` as ``<stem>-<name>.png`` and ``.pdf``.

    Its numbers belong in the notebook's own JSON (:func:`save_figure`, called last).
    """
    if not name or not all(c.isalnum() or c in "._" for c in name):
        raise ValueError(f"name must hold letters, digits, '.' and '_' only, got {name!r}")
    return _save_images(fig, f"{stem}-{name}", preset)


#: Text of the stamp on figures of a preset other than ``full``.
STAMP_FORMAT = "preset: {preset}"


def _save_images(fig: Any, base: str, preset: str) -> dict[str, Path]:
    out = output_dir(preset)
    paths = {ext: out / f"{base}.{ext}" for ext in ("png", "pdf")}
    stamp = None
    if preset != "full":
        stamp = fig.text(0.995, 0.005, STAMP_FORMAT.format(preset=preset), ha="right",
                         va="bottom", fontsize=5, color="0.55", gid="mplib-preset-stamp")
    try:
        for ext, path in paths.items():
            buf = io.BytesIO()
            fig.savefig(buf, format=ext,
                        metadata=None if ext == "png" else {"CreationDate": None})
            atomic_write(path, lambda f, b=buf: f.write(b.getvalue()))
    finally:
        if stamp is not None:  # the figure object is left as the caller drew it
            stamp.remove()
    return paths


def _announce(folder: Path) -> None:
    if not os.environ.get("MPLIB_FIGURES"):
        print(f"saved to the scratch folder {folder} (run outside make; "
              "`make figures` writes figures/<preset>/)")
