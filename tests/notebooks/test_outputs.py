"""The smoke-preset outputs of every notebook (run by `make test` after the smoke build)."""

from __future__ import annotations

import json
import os

import pytest

from mplib.repro import repo_root

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
