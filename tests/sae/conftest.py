"""Fixtures of the SAE tests."""

from __future__ import annotations

import pytest
import torch

from .sae_helpers import MODELS


@pytest.fixture(params=sorted(MODELS))
def model_name(request) -> str:
    """Every model configuration of :data:`sae_helpers.MODELS`."""
    return request.param


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread per xdist worker avoids oversubscribing the two cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
