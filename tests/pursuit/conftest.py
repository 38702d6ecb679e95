"""Pursuit tests: one torch thread per test process.

The kernels run many small batched ops per iteration; with ``pytest -n 2`` on 2 cores, two
intra-op threads per worker oversubscribe the machine and every parallel op can wait a full
scheduler slice (measured: 70× slower NNLS). The previous setting is restored afterwards.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
