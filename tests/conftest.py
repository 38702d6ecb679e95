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


def _is_loopback(address) -> bool:
    """Whether a socket address stays on this machine (Unix socket or loopback host)."""
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = str(address[0]) if isinstance(address, tuple) and address else ""
    return host in ("localhost", "::1") or host.startswith("127.")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing in mplib may touch the network: connections raise, except to loopback.

    Local servers that tests start themselves (a Jupyter server, a Dask cluster, gloo
    process groups) listen on 127.0.0.1 and stay reachable; any other address raises.
    """
    connect = socket.socket.connect
    create_connection = socket.create_connection

    def guarded_connect(sock, address, *args, **kwargs):
        if not _is_loopback(address):
            raise OSError(f"network access is forbidden in tests (tried {address!r})")
        return connect(sock, address, *args, **kwargs)

    def guarded_create_connection(address, *args, **kwargs):
        if not _is_loopback(address):
            raise OSError(f"network access is forbidden in tests (tried {address!r})")
        return create_connection(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)


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
