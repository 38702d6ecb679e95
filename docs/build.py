"""Build the static documentation site from the outputs of one ``make figures`` preset.

Usage (``make docs`` runs it)::

    python docs/build.py --figures figures/quick --out docs/_build [--strict]

It stages a source folder, ``<out>/src``: the pages of ``docs/``, the results page
(``RESULTS.md`` of the figures folder), one page per executed notebook ``<stem>.ipynb`` of the
figures folder (shown with its outputs, never re-executed) and the benchmarks page
(``benchmarks/README.md``), then runs Sphinx into ``<out>/html``. ``--strict`` turns warnings
into errors. Nothing is read from the network.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
PAGES = ["conf.py", "index.md", "teaching.md"]


def public_modules() -> list[str]:
    """Every public package and module of mplib (its ``__all__`` lists the public names)."""
    pkg = ROOT / "mplib"
    names = ["mplib"]
    for path in sorted(pkg.iterdir()):
        if path.name.startswith("_"):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            names.append(f"mplib.{path.name}")
        elif path.suffix == ".py":
            names.append(f"mplib.{path.stem}")
    return names


def api_page() -> str:
    """Write the API reference: one section per public module, its ``__all__`` documented."""
    out = ["# API reference", "",
           "Every public name of mplib (each module's `__all__`), with its docstring.", ""]
    for name in public_modules():
        out += [f"## `{name}`", "", "```{eval-rst}", f".. automodule:: {name}",
                "   :members:", "```", ""]
    return "\n".join(out)


def _notebook_page(figures: Path, stem: str, dest: Path) -> None:
    """Copy an executed notebook and its images; show the saved figures after the title.

    Builds run matplotlib on the Agg backend, so the executed notebook holds the text outputs
    and the figures are the saved PNGs (``<stem>.png``, then ``<stem>-<name>.png``).
    """
    nb = json.loads((figures / f"{stem}.ipynb").read_text())
    images = sorted(p.name for p in figures.glob(f"{stem}*.png")
                    if p.stem == stem or p.stem.startswith(f"{stem}-"))
    images.sort(key=lambda n: n != f"{stem}.png")
    for name in images:
        shutil.copy(figures / name, dest / name)
    if images:
        text = [f"**The figures as built** (`figures/{figures.name}/`):\n", "\n"]
        text += [f"![{name}]({name})\n\n" for name in images]
        nb["cells"].insert(1, {"cell_type": "markdown", "id": "mplib-built-figures",
                               "metadata": {}, "source": text})
    (dest / f"{stem}.ipynb").write_text(json.dumps(nb))


def stage(figures: Path, src: Path) -> list[str]:
    """Copy the pages and the built outputs into ``src``; return the notebook stems."""
    if src.exists():
        shutil.rmtree(src)
    (src / "figures").mkdir(parents=True)
    for name in PAGES:
        shutil.copy(DOCS / name, src / name)
    results = figures / "RESULTS.md"
    text = results.read_text() if results.exists() else (
        "# Results\n\nNo results page yet: run `make figures` first.\n")
    (src / "results.md").write_text(text)
    bench = (ROOT / "benchmarks" / "README.md").read_text()
    (src / "benchmarks.md").write_text(bench)
    (src / "api.md").write_text(api_page())
    stems = sorted(p.stem for p in figures.glob("*.ipynb") if not p.name.startswith("."))
    for stem in stems:
        _notebook_page(figures, stem, src / "figures")
    lines = ["# Figure notebooks", "",
             f"Each notebook as executed by the last `make figures` (`{figures.name}` preset),",
             "with its outputs; the docs build does not run them.", "",
             "```{toctree}", ":maxdepth: 1", "", *[f"{s}" for s in stems], "```", ""]
    (src / "figures" / "index.md").write_text("\n".join(lines))
    return stems


def main(argv: list[str] | None = None) -> int:
    """Stage and build; return Sphinx's exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", type=Path, required=True, help="figures/<preset>/ folder")
    ap.add_argument("--out", type=Path, default=DOCS / "_build")
    ap.add_argument("--strict", action="store_true", help="warnings are errors")
    args = ap.parse_args(argv)
    from sphinx.cmd.build import build_main

    src = args.out / "src"
    stems = stage(args.figures.resolve(), src)
    opts = ["-b", "html", "-q", "-d", str(args.out / "doctrees")] + ["-W"] * args.strict
    status = build_main([*opts, str(src), str(args.out / "html")])
    if status == 0:
        print(f"docs: {args.out / 'html' / 'index.html'} ({len(stems)} notebooks)")
    return status


if __name__ == "__main__":
    sys.exit(main())
