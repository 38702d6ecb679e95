"""Shared fixtures: seeded generators, the device list, and a guard against network access."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
# One intra-op thread per test process: `make test` runs two pytest workers on two cores, and
# two-thread small ops on a busy core stall for milliseconds (measured up to 70x slower).
torch.set_num_threads(1)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing in mplib may touch the network (DEVELOPERS.md): connections raise."""

    def refuse(*args, **kwargs):
        raise OSError("network access is forbidden in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy generator."""
    return np.random.default_rng(0)


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every available device: CPU always, CUDA when present."""
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Reproducible torch numerics in tests (no TF32: argmax ties flip)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
