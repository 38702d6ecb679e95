"""Toy-SAE sweeps: batched, cached, split over worker processes."""

from __future__ import annotations

import _socket
import socket

import pytest
import torch

from mplib.datasets import ToySpec
from mplib.experiments import ToyRun, train_toy_runs
from mplib.experiments.toy_hierarchy import _split
from mplib.sae import TrainConfig

CFG = TrainConfig(n_steps=12, warmup_steps=2)


@pytest.fixture
def local_ipc(monkeypatch):
    """Let the forkserver's AF_UNIX socket through the suite's network guard (local IPC)."""

    def connect(sock, address):
        if sock.family != socket.AF_UNIX:
            raise OSError("network access is forbidden in tests")
        return _socket.socket.connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def _runs():
    return [ToyRun(sae, ToySpec("mpsae", c), s)
            for sae in ("vanilla", "mp", "batchtopk", "matryoshka") for c in (0.0, 0.6)
            for s in (0, 1)]


def _same(a, b):
    for (k, v), (k2, v2) in zip(a.state_dict().items(), b.state_dict().items()):
        assert k == k2
        if isinstance(v, torch.Tensor):
            assert torch.equal(v, v2), k


def test_results_do_not_depend_on_the_number_of_workers(tmp_path, monkeypatch, local_ipc):
    """Issue #5: two worker processes give bit-identical runs to the single-process path."""
    runs = _runs()
    monkeypatch.setenv("MPLIB_DATA", str(tmp_path / "one"))
    alone = train_toy_runs(runs, CFG, n_workers=1, max_models=3)
    monkeypatch.setenv("MPLIB_DATA", str(tmp_path / "two"))
    pooled = train_toy_runs(runs, CFG, n_workers=2, max_models=3)
    for a, b in zip(alone, pooled):
        _same(a, b)
    # a run trained alone (another split) follows the same trajectory up to rounding
    monkeypatch.setenv("MPLIB_DATA", str(tmp_path / "single"))
    (single,) = train_toy_runs(runs[2:3], CFG, n_workers=1)
    torch.testing.assert_close(single.dictionary, alone[2].dictionary, rtol=1e-4, atol=1e-5)


def test_cached_runs_are_not_trained_again(tmp_path, monkeypatch, local_ipc):
    monkeypatch.setenv("MPLIB_DATA", str(tmp_path))
    runs = _runs()[:2]
    first = train_toy_runs(runs, CFG, n_workers=1)
    import mplib.experiments.toy_hierarchy as th

    monkeypatch.setattr(th, "_train_unit", lambda *a: pytest.fail("trained a cached run"))
    again = train_toy_runs(runs, CFG, n_workers=2)
    for a, b in zip(first, again):
        _same(a, b)


@pytest.mark.parametrize("n, most, sizes", [(100, 64, [50, 50]), (135, 64, [45, 45, 45]),
                                            (7, 3, [3, 2, 2]), (4, 64, [4])])
def test_split_is_balanced_and_keeps_order(n, most, sizes):
    parts = _split(list(range(n)), most)
    assert [len(p) for p in parts] == sizes
    assert sum(parts, []) == list(range(n))


@pytest.mark.parametrize("kwargs, name", [(dict(n_workers=0), "n_workers"),
                                          (dict(n_workers=1.5), "n_workers"),
                                          (dict(max_models=0), "max_models")])
def test_bad_options_raise_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        train_toy_runs(_runs()[:1], CFG, **kwargs)
