"""Notebook parameters: the literals of a notebook's ``parameters`` cell and preset checks.

Every notebook has exactly one cell tagged ``parameters`` holding ``name = literal`` lines (its
defaults are the quick preset); ``params/<preset>/<stem>.yaml`` overrides some of them.
papermill only warns about a preset key the cell does not declare; :func:`check_params` makes
it an error (the Makefile runs ``python -m mplib check-params`` before executing a notebook).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["check_params", "declared_parameters"]


def declared_parameters(notebook: str | os.PathLike) -> dict[str, Any]:
    """Return the names and literal values of a notebook's ``parameters`` cell.

    Accepts a jupytext ``.py`` file or an ``.ipynb``. Raises ``ValueError`` when there is not
    exactly one cell tagged ``parameters`` or when it holds anything but ``name = literal``.
    """
    import ast

    path = Path(notebook)
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        cells = [
            "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"]
            if "parameters" in c.get("metadata", {}).get("tags", [])
        ]
    else:
        cells, current = [], None
        for line in path.read_text().splitlines():
            if line.startswith("# %%"):
                if current is not None:
                    cells.append("\n".join(current))
                current = [] if 'tags=["parameters"]' in line else None
            elif current is not None:
                current.append(line)
        if current is not None:
            cells.append("\n".join(current))
    if len(cells) != 1:
        raise ValueError(
            f"{path}: expected exactly one cell tagged 'parameters', found {len(cells)}"
        )
    out: dict[str, Any] = {}
    for node in ast.parse(cells[0]).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, value = node.target.id, node.value
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            name, value = node.targets[0].id, node.value
        else:
            raise ValueError(f"{path}: the parameters cell may hold only `name = literal` lines")
        try:
            out[name] = ast.literal_eval(value) if value is not None else None
        except ValueError as err:
            raise ValueError(f"{path}: parameter {name!r} is not a plain literal") from err
    return out


def check_params(notebook: str | os.PathLike, presets: list[str | os.PathLike]) -> None:
    """Raise ``ValueError`` naming every preset key the notebook does not declare."""
    import yaml

    declared = declared_parameters(notebook)
    for preset in presets:
        values = yaml.safe_load(Path(preset).read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{preset}: a preset file must be a mapping of parameter: value")
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise ValueError(
                f"{preset}: unknown parameter(s) {', '.join(map(repr, unknown))} "
                f"(not declared in the parameters cell of {notebook}; "
                f"declared: {', '.join(sorted(declared))})"
            )
