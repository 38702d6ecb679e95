"""The claim schema every notebook's JSON follows (mplib.results)."""

from __future__ import annotations

import numpy as np
import pytest

from mplib.results import CLAIM_KEYS, claim, fmt_value, validate_claims, validate_record, verdict_of


def good(**kw):
    base = {"id": "a", "text": "t", "paper_value": 1.0, "ours": 0.9, "verdict": "partly",
            "note": ""}
    return base | kw


def test_claim_builds_a_valid_record_from_numpy_values():
    c = claim("l0", "L0 is 1.36", paper_value=1.36, ours=np.float64(1.359), verdict=np.bool_(True))
    assert list(c) == list(CLAIM_KEYS) and c["verdict"] == "reproduced"
    assert type(c["ours"]) is float
    assert claim("x", "t", paper_value=None, ours=np.nan, verdict=None)["ours"] is None
    assert claim("x", "t", paper_value="exact", ours=3, verdict=False, partly=True)["verdict"] \
        == "partly"


@pytest.mark.parametrize("bad, match", [
    (good(verdict="yes"), "verdict"),
    (good(verdict=True), "verdict"),
    (good(ours=True), "ours"),
    (good(ours=float("nan")), "ours"),
    (good(paper_value=[1, 2]), "paper_value"),
    (good(id="Has Space"), "id"),
    (good(text=""), "text"),
    ({k: v for k, v in good().items() if k != "note"}, "note"),
    (good(extra=1), "extra"),
])
def test_validate_claims_names_the_problem(bad, match):
    with pytest.raises(ValueError, match=match):
        validate_claims([bad])


def test_ids_are_unique_and_claims_a_list():
    with pytest.raises(ValueError, match="unique"):
        validate_claims([good(), good()])
    with pytest.raises(ValueError, match="list"):
        validate_claims({"a": True})  # the old bare-boolean form


def test_validate_record():
    rec = {"stem": "fig00_x", "preset": "quick", "claims": [good()],
           "provenance": {"params": {}, "substitute": False}}
    assert validate_record(rec)["stem"] == "fig00_x"
    with pytest.raises(ValueError, match="claims"):
        validate_record({k: v for k, v in rec.items() if k != "claims"})


def test_verdict_of_and_formats():
    assert verdict_of(None) == "not-testable"
    with pytest.raises(TypeError):
        verdict_of(1)
    assert fmt_value(0.00049) == "4.90e-04" and fmt_value(0.5) == "0.5" and fmt_value(2.0) == "2"
