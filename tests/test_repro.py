"""Seeds, atomic files, the hashed cache, provenance and folders (mplib.repro)."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

from mplib import repro


def test_generators_are_seeded():
    assert repro.numpy_generator(3).random() == repro.numpy_generator(3).random()
    a = torch.rand(3, generator=repro.torch_generator(3))
    assert torch.equal(a, torch.rand(3, generator=repro.torch_generator(3)))
    g = np.random.default_rng(1)
    assert repro.numpy_generator(g) is g


@pytest.mark.parametrize("bad", [None, 1.5, "0", True])
def test_seed_type_errors(bad):
    with pytest.raises(TypeError, match="seed"):
        repro.numpy_generator(bad)
    with pytest.raises(TypeError, match="seed"):
        repro.torch_generator(bad)


def test_negative_seed():
    with pytest.raises(ValueError, match="seed"):
        repro.torch_generator(-1)


def test_resolve_device():
    assert repro.resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert repro.resolve_device("auto").type == expected
    with pytest.raises(ValueError, match="device"):
        repro.resolve_device("gpu0")
    with pytest.raises(TypeError, match="device"):
        repro.resolve_device(3)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"

    def explode(f):
        f.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        repro.atomic_write(target, explode)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    repro.atomic_write(target, lambda f: f.write(b"whole"))
    assert target.read_bytes() == b"whole"
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # readable like any file


def test_to_jsonable_handles_numpy_torch_and_nan():
    obj = {"a": np.float32(1.5), "b": np.arange(3), "c": torch.tensor([1.0, math.nan]),
           "d": (np.int64(2), float("inf"))}
    assert repro.to_jsonable(obj) == {"a": 1.5, "b": [0, 1, 2], "c": [1.0, None], "d": [2, None]}
    with pytest.raises(TypeError, match="JSON"):
        repro.to_jsonable(object())


def test_cached_computes_once_and_keys_on_inputs(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLIB_DATA", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"w": torch.ones(2)}

    a = repro.cached("stem", "model", {"seed": 0}, compute)
    b = repro.cached("stem", "model", {"seed": 0}, compute)
    assert len(calls) == 1 and torch.equal(a["w"], b["w"])
    repro.cached("stem", "model", {"seed": 1}, compute)
    assert len(calls) == 2
    files = sorted(p.name for p in (tmp_path / "cache" / "stem").iterdir())
    assert len(files) == 2 and all(f.startswith("model-") and f.endswith(".pt") for f in files)


def test_cache_key_depends_on_every_part():
    assert repro.cache_key({"a": 1}) == repro.cache_key({"a": 1})
    assert repro.cache_key({"a": 1}) != repro.cache_key({"a": 2})
    assert repro.cache_key({"a": 1}, "x") != repro.cache_key({"a": 1}, "y")


def test_provenance_and_versions(capsys):
    prov = repro.provenance({"seed": 0}, substitute=False)
    assert prov["params"] == {"seed": 0} and prov["substitute"] is False
    assert prov["versions"]["torch"] and prov["versions"]["numpy"]
    json.dumps(repro.to_jsonable(prov))
    info = repro.show_versions()
    assert "torch" in capsys.readouterr().out and info["cpu_count"] == os.cpu_count()


def test_figures_dir_validates_preset(monkeypatch):
    monkeypatch.delenv("MPLIB_FIGURES", raising=False)
    assert repro.figures_dir("quick").parts[-2:] == ("figures", "quick")
    with pytest.raises(ValueError, match="preset"):
        repro.figures_dir("../etc")
    with pytest.raises(ValueError, match="preset"):
        repro.output_dir("a/b")


def test_outside_make_outputs_go_to_the_scratch_folder(monkeypatch, tmp_path):
    """An interactive run never writes into figures/<preset>/ (only make does)."""
    monkeypatch.delenv("MPLIB_FIGURES", raising=False)
    out = repro.output_dir("quick")
    assert out.parts[-3:] == ("figures", "scratch", "quick")
    assert out != repro.figures_dir("quick")
    monkeypatch.setenv("MPLIB_FIGURES", str(tmp_path))
    assert repro.output_dir("quick") == tmp_path.resolve()


def test_code_fingerprint_tracks_sources():
    a = repro.code_fingerprint("datasets")
    assert a == repro.code_fingerprint("datasets")
    assert a != repro.code_fingerprint("sae")
    assert len(repro.code_fingerprint("pursuit/_mp.py")) == 16
    with pytest.raises(ValueError, match="packages"):
        repro.code_fingerprint("nonexistent")
