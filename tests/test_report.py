"""The results page and the README's table (mplib.report)."""

from __future__ import annotations

import json

import pytest

from mplib.report import (
    README_BEGIN,
    README_END,
    collect,
    readme_table,
    update_readme,
    write_report,
)
from mplib.repro import repo_root
from mplib.results import claim

ROOT = repo_root()
SUMMARY = ROOT / "results" / "summary_full.json"


def _record(stem, claims, **extra):
    return {"stem": stem, "preset": "quick", **extra, "claims": claims,
            "provenance": {"params": {"n_seeds": 3}, "substitute": False}}


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "quick"
    out.mkdir()
    (out / "fig04_a.json").write_text(json.dumps(_record("fig04_a", [
        claim("one", "a | b", paper_value=0.21, ours=0.00049, verdict=True),
        claim("two", "c", paper_value="exact", ours=None, verdict=None)],
        paper="Doe 2025: A paper", figure="Fig. 4")))
    (out / "tour.json").write_text(json.dumps(_record("tour", [
        claim("t", "d", paper_value=0, ours=0, verdict=False)])))
    (out / "bad.json").write_text(json.dumps({"stem": "bad", "preset": "quick",
                                             "claims": {"x": True}, "provenance": {}}))
    return out


def test_collect_groups_by_paper_and_reports_bad_jsons(folder, tmp_path):
    rows, problems = collect(folder, root=tmp_path)
    assert [r.id for r in rows] == ["one", "two", "t"]
    assert rows[0].paper == "Doe 2025: A paper" and rows[0].seeds == 3
    assert rows[2].paper.startswith("Teaching")
    assert len(problems) == 1 and problems[0].startswith("bad.json")


def test_write_report_writes_markdown_html_and_summary(folder, tmp_path):
    paths = write_report(folder, root=tmp_path)
    md = paths["md"].read_text()
    assert "## Doe 2025: A paper" in md and "a \\| b" in md and "4.90e-04" in md
    assert "3 claims: 1 reproduced, 0 partly, 1 not, 1 not-testable" in md
    assert "bad.json" in md
    assert "<td>a | b</td>" in paths["html"].read_text()
    summary = json.loads(paths["summary"].read_text())
    assert summary["preset"] == "quick" and len(summary["rows"]) == 3


def test_update_readme_rewrites_only_between_markers(folder, tmp_path):
    summary = write_report(folder, root=tmp_path)["summary"]
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_BEGIN}\nstale\n{README_END}\nend\n")
    assert not update_readme(summary, readme, check=True)
    assert "stale" in readme.read_text()
    assert not update_readme(summary, readme)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("end\n") and "stale" not in text
    assert update_readme(summary, readme, check=True)


def test_readme_table_matches_the_committed_full_summary():
    """The README carries the full-preset table, regenerated from the committed summary."""
    readme = (ROOT / "README.md").read_text()
    table = readme_table(json.loads(SUMMARY.read_text()))
    assert table in readme, ("README's results table differs from results/summary_full.json: "
                             "run `python -m mplib readme-table results/summary_full.json`")
