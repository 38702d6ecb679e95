"""save_figure: the preset stamp, the claim check, where files go (mplib.plotting.core)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from mplib.plotting import save_figure  # noqa: E402
from mplib.plotting.core import STAMP_FORMAT, _save_images  # noqa: E402
from mplib.results import claim  # noqa: E402


@pytest.fixture
def fig():
    f, ax = plt.subplots()
    ax.plot([0, 1])
    yield f
    plt.close(f)


def _stamped(fig, monkeypatch, tmp_path, preset):
    texts = []
    orig = fig.savefig

    def spy(*args, **kw):
        texts.append([t.get_text() for t in fig.texts])
        return orig(*args, **kw)

    monkeypatch.setattr(fig, "savefig", spy)
    monkeypatch.setenv("MPLIB_FIGURES", str(tmp_path))
    _save_images(fig, "x", preset)
    return texts


@pytest.mark.parametrize("preset, stamped", [("quick", True), ("smoke", True), ("full", False)])
def test_preset_stamp_on_every_preset_but_full(fig, monkeypatch, tmp_path, preset, stamped):
    texts = _stamped(fig, monkeypatch, tmp_path, preset)
    mark = STAMP_FORMAT.format(preset=preset)
    assert len(texts) == 2 and all((mark in t) == stamped for t in texts)  # PNG and PDF
    assert not fig.texts, "the stamp is removed after saving"


def test_save_figure_checks_claims_and_records_paper_and_figure(fig, monkeypatch, tmp_path):
    monkeypatch.setenv("MPLIB_FIGURES", str(tmp_path))
    ok = claim("a", "t", paper_value=1, ours=1, verdict=True)
    paths = save_figure(fig, "fig00_x", preset="smoke", results={"claims": [ok]},
                        figure="Fig. 0", paper="Doe 2025: X")
    rec = json.loads(paths["json"].read_text())
    assert rec["figure"] == "Fig. 0" and rec["paper"] == "Doe 2025: X" and rec["claims"] == [ok]
    with pytest.raises(ValueError, match="verdict"):
        save_figure(fig, "fig00_y", preset="smoke", results={"claims": [{**ok, "verdict": "ok"}]})
    assert not (tmp_path / "fig00_y.json").exists()


def test_outside_make_save_figure_writes_to_scratch_and_says_so(fig, monkeypatch, tmp_path,
                                                                capsys):
    monkeypatch.delenv("MPLIB_FIGURES", raising=False)
    monkeypatch.setenv("MPLIB_ROOT", str(tmp_path))
    paths = save_figure(fig, "fig00_x", preset="quick", results={"n": 1})
    assert paths["json"].parent == tmp_path / "figures" / "scratch" / "quick"
    assert "scratch" in capsys.readouterr().out
    assert not (tmp_path / "figures" / "quick").exists()
