"""The smoke-preset outputs of every notebook (run by `make test` after the smoke build)."""

from __future__ import annotations

import json
import os

import pytest

from mplib.repro import repo_root
from mplib.results import validate_record

ROOT = repo_root()
STEMS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))
OUT = ROOT / "figures" / "smoke"


@pytest.fixture(scope="module", autouse=True)
def _need_outputs():
    if not os.environ.get("MPLIB_REQUIRE_SMOKE") and not OUT.exists():
        pytest.skip("no smoke build yet (make test builds it first)")


@pytest.mark.parametrize("stem", STEMS)
def test_outputs_exist_and_json_is_complete(stem):
    for ext in ("png", "pdf", "json", "ipynb"):
        assert (OUT / f"{stem}.{ext}").is_file(), f"missing {stem}.{ext}"
    record = json.loads((OUT / f"{stem}.json").read_text())
    assert record["stem"] == stem and record["preset"] == "smoke"
    prov = record["provenance"]
    assert prov["params"]["preset"] == "smoke"
    assert prov["versions"]["mplib"]
    assert "substitute" in prov
    assert set(record) - {"stem", "preset", "provenance"}, "the JSON holds no numbers"


BUILT = sorted(p for p in (ROOT / "figures").glob("*/*.json")
               if not p.name.startswith(".") and p.name != "summary.json"
               and p.parent.name != "scratch")


@pytest.mark.parametrize("path", BUILT, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_built_json_follows_the_claim_schema(path):
    """Each claim has id, text, paper_value, ours, note and a verdict in VERDICTS."""
    record = validate_record(json.loads(path.read_text()))
    assert record["preset"] == path.parent.name
    assert record["claims"], f"{path.name}: no claims"


def test_results_page_lists_every_claim():
    """`make report` writes RESULTS.md/.html with one row per claim of every JSON present."""
    from mplib.report import collect

    rows, problems = collect(OUT)
    assert not problems, problems
    n = sum(len(json.loads((OUT / f"{s}.json").read_text())["claims"])
            for s in STEMS if (OUT / f"{s}.json").exists())
    assert len(rows) == n
    md = (OUT / "RESULTS.md").read_text()
    assert all(r.text.replace("|", "\\|") in md for r in rows)
    assert (OUT / "RESULTS.html").read_text().startswith("<!DOCTYPE html>")
