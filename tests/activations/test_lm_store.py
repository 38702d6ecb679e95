"""The shared SmolLM2 store holds exactly the model's hidden states, window by window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.activations import LM_STORE_WINDOW, lm_store
from mplib.models import load_smollm2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lm():
    return load_smollm2()


def test_store_rows_equal_hidden_states(lm, tmp_path_factory):
    root = tmp_path_factory.mktemp("acts")
    store = lm_store(600, lm=lm, root=root)
    assert store.n_tokens == 600 and store.d == lm.d_model
    idx = store.index
    assert int(idx["position"].max()) == LM_STORE_WINDOW - 1
    # the second window of the first document, re-run through the whole model
    rows = np.flatnonzero((idx["doc"] == 0) & (idx["window"] == 1))
    ids = torch.as_tensor(np.asarray(idx["token_id"][rows]), dtype=torch.long)[None]
    with torch.no_grad():
        hs = lm.model(input_ids=ids, output_hidden_states=True).hidden_states[15][0]
    got = torch.from_numpy(store.array[rows].astype(np.float32))
    rel = (got - hs).norm(dim=1) / hs.norm(dim=1)
    assert float(rel.max()) < 2e-3  # fp16 storage: ~5e-4 relative rounding per row
    # the same request is served from the cache; other splits view the same folder
    assert lm_store(600, lm=lm, root=root).path == store.path
    other = lm_store(600, lm=lm, root=root, splits={"train": 0.7, "eval": 0.3})
    assert other.path == store.path and set(other.splits) == {"train", "eval"}


def test_bad_n_tokens():
    with pytest.raises(ValueError, match="n_tokens"):
        lm_store(0)
