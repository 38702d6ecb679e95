"""Static checks of every notebook and preset file (no execution)."""

from __future__ import annotations

import re

import pytest
import yaml

from mplib.notebook import declared_parameters
from mplib.repro import repo_root

ROOT = repo_root()
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
STEM = re.compile(r"^((fig\d{2}[a-z]?(_\d{2})?|table\d+|teach_\d{2})_[a-z0-9_]+|[a-z0-9]+_tour"
                  r"|workshop_[a-z0-9_]+|(dm|ts)_[a-z0-9_]+)$")


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_stem_naming(nb):
    assert STEM.match(nb.stem), (
        f"{nb.name}: stem must be figNN_slug, tableN_slug, teach_NN_slug, workshop_slug, "
        f"dm_slug / ts_slug (the dark-matter and tokenizer-transplant papers) or <topic>_tour")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell(nb):
    params = declared_parameters(nb)  # exactly one tagged cell, literals only
    assert params.get("preset") == "quick", "the parameters cell must declare preset = 'quick'"
    text = nb.read_text()
    cell = text.split('# %% tags=["parameters"]', 1)[1].split("# %%", 1)[0]
    for line in cell.strip().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert "#" in line, f"{nb.name}: every parameter needs a comment: {line!r}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_title_cell_and_save(nb):
    text = nb.read_text()
    first = text.split("# %% [markdown]", 1)[1].split("# %%", 1)[0]
    assert re.search(r"^# # (Figure|Table|Tour|[A-Z])", first, re.M), "first cell: Markdown title"
    assert "show_versions()" in text
    assert "save_figure(" in text
    assert ".ipynb" not in {p.suffix for p in (ROOT / "notebooks").iterdir()}


PRESET_FILES = sorted((ROOT / "params").glob("*/*.yaml"))


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_preset_files_name_a_notebook_and_declared_keys(path):
    nb = ROOT / "notebooks" / f"{path.stem}.py"
    assert nb.exists(), f"{path} has no notebook"
    assert path.parent.name in {"smoke", "quick", "full", "paper"}
    declared = declared_parameters(nb)
    values = yaml.safe_load(path.read_text()) or {}
    unknown = set(values) - set(declared)
    assert not unknown, f"{path}: keys not declared by the notebook: {unknown}"


def test_no_executed_notebooks_tracked():
    import subprocess

    out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == ""


def test_make_refuses_an_unknown_preset_key(tmp_path):
    """A preset key the notebook does not declare fails the build, naming the key."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make not installed")
    (tmp_path / "fig10_tree.yaml").write_text("n_samples: 10\nn_sampels: 5\n")
    out = subprocess.run(
        ["make", "-s", "figures", "STEMS=fig10_tree", f"PARAMS={tmp_path}",
         f"OUT={tmp_path / 'out'}", "PRESET=smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode != 0
    assert "n_sampels" in out.stderr
    assert not (tmp_path / "out" / "fig10_tree.json").exists()


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(nb):
    """papermill's own parser must see every declared name (else it only warns at run time)."""
    from papermill.translators import PythonTranslator

    cell = nb.read_text().split('# %% tags=["parameters"]', 1)[1].split("\n# %%", 1)[0]
    seen = {p.name for p in PythonTranslator.inspect({"source": cell.strip()})}
    missing = set(declared_parameters(nb)) - seen
    assert not missing, f"papermill cannot parse: {missing}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_claims_use_the_schema_helper(nb):
    """Every notebook builds its claims with mplib.results.claim (one schema everywhere)."""
    text = nb.read_text()
    assert '"claims"' in text, f"{nb.name}: the JSON must carry a top-level 'claims' list"
    assert "claim(" in text, f"{nb.name}: build claims with mplib.results.claim(...)"
