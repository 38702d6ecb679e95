"""The results page: one row per claim of every notebook's JSON, grouped by paper.

``make report`` (run at the end of ``make figures``) calls :func:`write_report`, which reads
every ``figures/<preset>/<stem>.json``, and writes ``RESULTS.md``, ``RESULTS.html`` and
``summary.json`` beside them. Columns: paper, figure, the claim, the paper's number, ours,
the verdict (reproduced / partly / not / not-testable), preset, seeds. The README's table is
:func:`readme_table` of the committed full-preset summary (``results/summary_full.json``),
rewritten by ``python -m mplib readme-table``; a test fails when the two differ.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from mplib.repro import atomic_write, atomic_write_json, repo_root
from mplib.results import VERDICTS, fmt_value, validate_record

__all__ = [
    "README_BEGIN",
    "README_END",
    "ClaimRow",
    "collect",
    "readme_table",
    "render_html",
    "render_markdown",
    "update_readme",
    "write_report",
]

README_BEGIN = "<!-- results-table: begin (written by `python -m mplib readme-table`) -->"
README_END = "<!-- results-table: end -->"
_NO_PAPER = "Teaching notebooks (no paper)"


class ClaimRow(NamedTuple):
    """One row of the results page."""

    paper: str
    """Short name of the paper (authors, year, short title)."""
    figure: str
    """The paper's item ("Fig. 4", "Table 1") or the notebook's kind."""
    stem: str
    """Notebook stem."""
    id: str
    """Claim identifier within the notebook."""
    text: str
    """The claim."""
    paper_value: Any
    """The paper's number or statement."""
    ours: Any
    """Our number."""
    verdict: str
    """reproduced / partly / not / not-testable."""
    note: str
    """What ``ours`` measures."""
    preset: str
    """smoke / quick / full."""
    seeds: int | None
    """Runs (seeds) per point, when the notebook has seeds."""


def _title_cell(stem: str, root: Path) -> str:
    path = root / "notebooks" / f"{stem}.py"
    if not path.exists():
        return ""
    text = path.read_text()
    parts = text.split("# %% [markdown]", 1)
    return parts[1].split("# %%", 1)[0] if len(parts) == 2 else ""


def _paper_and_figure(record: Mapping[str, Any], root: Path) -> tuple[str, str]:
    """Return the record's ``paper``/``figure`` keys, else read the notebook's title cell."""
    cell = _title_cell(record["stem"], root)
    paper, figure = record.get("paper"), record.get("figure")
    if not paper:
        m = re.search(r"\*([^*\n]+(?:\n#\s*[^*\n]+)*)\*\s*\(([^)]+?\d{4})\)", cell)
        if m:
            title = re.sub(r"\s*\n#\s*", " ", m.group(1)).strip()
            paper = f"{m.group(2).replace(',', '')}: {title}"
        else:
            paper = _NO_PAPER
    if not figure:
        m = re.search(r"^# # (Figures?|Table|Tour)\s*([0-9A-Za-z.–\-]*)", cell, re.M)
        if m and m.group(1) != "Tour":
            kind = {"Figure": "Fig.", "Figures": "Figs.", "Table": "Table"}[m.group(1)]
            figure = f"{kind} {m.group(2)}".strip()
        else:
            figure = "tour" if m else record["stem"]
    return str(paper), str(figure)


def _seeds(params: Mapping[str, Any]) -> int | None:
    for key in ("n_seeds", "n_runs", "seeds"):
        v = params.get(key)
        if isinstance(v, list):
            return len(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return 1 if any(k in params for k in ("seed", "seed0")) else None


def collect(folder: str | Path, *, root: Path | None = None) -> tuple[list[ClaimRow], list[str]]:
    """Read every ``<stem>.json`` of a figures folder into claim rows.

    Parameters
    ----------
    folder : path-like
        ``figures/<preset>/`` (hidden files and supplementary ``<stem>-<name>`` are skipped).
    root : Path, optional
        Repository root, where ``notebooks/`` lives (default :func:`mplib.repro.repo_root`).

    Returns
    -------
    rows : list of ClaimRow
        Sorted by paper, then figure, then stem, in each notebook's claim order.
    problems : list of str
        One line per JSON that does not follow the schema (its claims are left out).
    """
    root = repo_root() if root is None else Path(root)
    rows, problems = [], []
    for path in sorted(Path(folder).glob("*.json")):
        if path.name.startswith(".") or path.name == "summary.json":
            continue
        try:
            record = validate_record(json.loads(path.read_text()))
        except (ValueError, json.JSONDecodeError) as err:
            problems.append(f"{path.name}: {err}")
            continue
        paper, figure = _paper_and_figure(record, root)
        seeds = _seeds(record["provenance"].get("params", {}))
        for c in record["claims"]:
            rows.append(ClaimRow(paper, figure, record["stem"], c["id"], c["text"],
                                 c["paper_value"], c["ours"], c["verdict"], c["note"],
                                 record["preset"], seeds))
    order = {stem: i for i, stem in enumerate(dict.fromkeys(r.stem for r in rows))}
    rows.sort(key=lambda r: (r.paper == _NO_PAPER, r.paper, _figure_key(r.figure), order[r.stem]))
    return rows, problems


def _figure_key(figure: str) -> tuple:
    m = re.search(r"\d+", figure)
    return (not figure.startswith("Fig"), int(m.group()) if m else 0, figure)


def _counts(rows: Sequence[ClaimRow]) -> str:
    n = Counter(r.verdict for r in rows)
    return f"{len(rows)} claims: " + ", ".join(f"{n[v]} {v}" for v in VERDICTS)


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _groups(rows: Sequence[ClaimRow]) -> dict[str, list[ClaimRow]]:
    out: dict[str, list[ClaimRow]] = {}
    for r in rows:
        out.setdefault(r.paper, []).append(r)
    return out


def _table(rows: Sequence[ClaimRow], *, with_paper: bool, notes: bool) -> list[str]:
    head = ["paper"] * with_paper + ["figure", "claim", "paper's number", "ours", "verdict",
                                    "preset", "seeds"] + ["note"] * notes
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.paper] * with_paper + [
            f"{r.figure} (`{r.stem}`)", r.text, fmt_value(r.paper_value), fmt_value(r.ours),
            f"**{r.verdict}**" if r.verdict == "reproduced" else r.verdict, r.preset,
            "—" if r.seeds is None else str(r.seeds)] + [r.note] * notes
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return lines


def render_markdown(rows: Sequence[ClaimRow], *, preset: str,
                    problems: Sequence[str] = ()) -> str:
    """Render the ``RESULTS.md`` page: a count line, then one table per paper (with notes)."""
    out = [f"# Results — preset `{preset}`", "",
           "Every claim the notebooks check, one row each, from the JSONs of "
           f"`figures/{preset}/` (written by `make report`). {_counts(rows)}.", ""]
    for paper, group in _groups(rows).items():
        out += [f"## {paper}", "", _counts(group) + ".", ""]
        out += _table(group, with_paper=False, notes=True) + [""]
    if problems:
        out += ["## JSONs left out (not in the claim schema)", ""]
        out += [f"- {p}" for p in problems] + [""]
    return "\n".join(out)


def render_html(rows: Sequence[ClaimRow], *, preset: str, problems: Sequence[str] = ()) -> str:
    """Render the same page as standalone HTML (no external resources)."""
    esc = html.escape
    colour = {"reproduced": "#d8f0d8", "partly": "#fff2cc", "not": "#f8d7d7",
              "not-testable": "#e8e8e8"}
    body = [f"<h1>Results — preset <code>{esc(preset)}</code></h1>",
            f"<p>Every claim the notebooks check, from <code>figures/{esc(preset)}/</code>. "
            f"{esc(_counts(rows))}.</p>"]
    head = ["figure", "claim", "paper's number", "ours", "verdict", "preset", "seeds", "note"]
    for paper, group in _groups(rows).items():
        body.append(f"<h2>{esc(paper)}</h2><p>{esc(_counts(group))}.</p><table><tr>"
                    + "".join(f"<th>{h}</th>" for h in head) + "</tr>")
        for r in group:
            cells = [f"{r.figure} (<code>{esc(r.stem)}</code>)", esc(r.text),
                     esc(fmt_value(r.paper_value)), esc(fmt_value(r.ours)), esc(r.verdict),
                     esc(r.preset), "—" if r.seeds is None else str(r.seeds), esc(r.note)]
            body.append(f'<tr style="background:{colour[r.verdict]}">'
                        + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        body.append("</table>")
    if problems:
        body.append("<h2>JSONs left out (not in the claim schema)</h2><ul>"
                    + "".join(f"<li>{esc(p)}</li>" for p in problems) + "</ul>")
    style = ("body{font-family:sans-serif;max-width:75em;margin:2em auto;font-size:14px}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 6px;"
             "vertical-align:top;text-align:left}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>mplib '
            f"results ({esc(preset)})</title><style>{style}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(folder: str | Path, *, root: Path | None = None) -> dict[str, Path]:
    """Write ``RESULTS.md``, ``RESULTS.html`` and ``summary.json`` into a figures folder.

    The preset is the folder's name. Returns the three paths; prints one line per JSON left
    out because it does not follow the claim schema.
    """
    folder = Path(folder)
    preset = folder.name
    rows, problems = collect(folder, root=root)
    for p in problems:
        print(f"warning: left out of the results page: {p}")
    paths = {"md": folder / "RESULTS.md", "html": folder / "RESULTS.html",
             "summary": folder / "summary.json"}
    md = render_markdown(rows, preset=preset, problems=problems)
    atomic_write(paths["md"], lambda f: f.write(md.encode()))
    page = render_html(rows, preset=preset, problems=problems)
    atomic_write(paths["html"], lambda f: f.write(page.encode()))
    atomic_write_json(paths["summary"], {"preset": preset,
                                         "rows": [r._asdict() for r in rows],
                                         "problems": problems})
    return paths


def readme_table(summary: Mapping[str, Any]) -> str:
    """Render the README's table (no notes column) from a ``summary.json``, with markers."""
    rows = [ClaimRow(**r) for r in summary["rows"]]
    lines = [README_BEGIN, "", f"Preset `{summary['preset']}`: {_counts(rows)}.", ""]
    lines += _table(rows, with_paper=True, notes=False)
    return "\n".join(lines + ["", README_END])


def update_readme(summary_path: str | Path, readme: str | Path, *, check: bool = False) -> bool:
    """Replace the README's table by :func:`readme_table` of ``summary_path``.

    Returns whether the README was already up to date; with ``check`` it is not rewritten.
    """
    text = Path(readme).read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{readme}: no results-table markers ({README_BEGIN!r} … {README_END!r})")
    a, b = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    table = readme_table(json.loads(Path(summary_path).read_text()))
    same = text[a:b] == table
    if not same and not check:
        new = text[:a] + table + text[b:]
        atomic_write(readme, lambda f: f.write(new.encode()))
    return same
