"""The command line, ``python -m mplib <command> ...`` (the Makefile uses it).

Commands
--------
``check-params NOTEBOOK [PRESET.yaml ...]``
    Fail (exit 2) naming any preset key the notebook's ``parameters`` cell does not declare.
``versions``
    Print the versions of Python and the main packages (:func:`mplib.show_versions`).
``report FOLDER``
    Write ``RESULTS.md``, ``RESULTS.html`` and ``summary.json`` from the JSONs of a figures
    folder (``figures/<preset>/``).
``readme-table SUMMARY.json [README.md] [--check]``
    Rewrite the README's results table from a summary; ``--check`` only compares (exit 1 when
    they differ).
``transplant --base DIR --donor DIR --out DIR [--method omp --k 64 ...]``
    Give the base causal LM the donor's tokenizer (tokenizer transplantation by OMP); writes a
    loadable Hugging Face model folder. ``python -m mplib transplant --help`` lists the options.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

__all__ = ["COMMANDS", "main"]


def _check_params(args: Sequence[str]) -> int:
    from mplib.notebook import check_params

    if not args:
        return _usage()
    try:
        check_params(args[0], list(args[1:]))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _versions(args: Sequence[str]) -> int:
    from mplib.repro import show_versions

    show_versions()
    return 0


def _report(args: Sequence[str]) -> int:
    from mplib.report import write_report

    if len(args) != 1:
        return _usage()
    paths = write_report(args[0])
    print(f"results page: {paths['md']} and {paths['html']}")
    return 0


def _readme_table(args: Sequence[str]) -> int:
    from mplib.report import update_readme

    check = "--check" in args
    rest = [a for a in args if a != "--check"]
    if not 1 <= len(rest) <= 2:
        return _usage()
    readme = rest[1] if len(rest) == 2 else "README.md"
    try:
        same = update_readme(rest[0], readme, check=check)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if check and not same:
        print(f"{readme}: the results table differs from {rest[0]} "
              "(run `python -m mplib readme-table` to rewrite it)", file=sys.stderr)
        return 1
    return 0


def _transplant(args: Sequence[str]) -> int:
    from mplib.transplant.cli import main as transplant_main

    return transplant_main(args)


#: Subcommand name -> handler(args) -> exit status. Other modules may add entries.
COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "check-params": _check_params,
    "versions": _versions,
    "report": _report,
    "readme-table": _readme_table,
    "transplant": _transplant,
}


def _usage() -> int:
    print(__doc__, file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        return _usage()
    return COMMANDS[argv[0]](argv[1:])
