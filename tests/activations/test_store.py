"""Activation store on a tiny random Llama: key, resume, corruption, bad inputs, reader."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mplib.activations import ActivationStore, extract_activations

from .store_child import docs, tiny_lm


@pytest.fixture(scope="module")
def lm():
    return tiny_lm()


def test_matches_hidden_states_and_index(lm, tmp_path):
    store = extract_activations(lm, docs(), site="resid.2", window=16, batch_size=3,
                                shard_tokens=32, progress=False, root=tmp_path)
    assert store.d == 32 and store.n_tokens == len(store.index) == store.array.shape[0]
    ids = torch.tensor([store.index["token_id"][:16].tolist()])
    hs = lm.model(ids, output_hidden_states=True).hidden_states[2][0]
    np.testing.assert_allclose(store.array[:16].astype(np.float32), hs.detach().numpy(),
                               atol=2e-3, rtol=2e-3)
    assert store.index["position"].max() == 15


def test_resume_byte_identical_and_corruption(lm, tmp_path):
    kw = dict(site="resid.2", window=16, batch_size=2, shard_tokens=32, progress=False)
    a = extract_activations(lm, docs(), root=tmp_path / "a", **kw)
    b = extract_activations(lm, docs(), root=tmp_path / "b", **kw)
    # simulate a kill: drop .done and every shard after the first from the manifest
    (b.path / ".done").unlink()
    man = json.loads((b.path / "manifest.json").read_text())
    man["shards"] = man["shards"][:1]
    (b.path / "manifest.json").write_text(json.dumps(man))
    (b.path / "shard-00001.npy").unlink()
    b2 = extract_activations(lm, docs(), root=tmp_path / "b", **kw)
    for e in a.manifest["shards"]:
        assert (a.path / e["file"]).read_bytes() == (b2.path / e["file"]).read_bytes()
    # corrupt a shard: the reader refuses it, extraction recomputes it
    f = b2.path / "shard-00000.npy"
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted"):
        ActivationStore(b2.path)
    b3 = extract_activations(lm, docs(), root=tmp_path / "b", **kw)
    assert f.read_bytes() == (a.path / "shard-00000.npy").read_bytes() and b3.n_tokens


def test_key_changes(lm, tmp_path):
    kw = dict(window=16, progress=False, root=tmp_path, site="resid.1")
    base = extract_activations(lm, docs(), **kw).path.name
    assert extract_activations(lm, docs(extra="x"), **kw).path.name != base
    assert extract_activations(lm, docs(), **{**kw, "window": 8}).path.name != base
    assert extract_activations(lm, docs(), **{**kw, "site": "mlp.1"}).path.name != base
    other = SimpleNamespace(**{**vars(lm), "identity": "other"})
    assert extract_activations(other, docs(), **kw).path.name != base


@pytest.mark.parametrize("kw, name", [
    (dict(site="foo.1"), "site"), (dict(site="resid.9"), "site"),
    (dict(site="resid.1", window=1), "window"),
])
def test_bad_inputs(lm, tmp_path, kw, name):
    with pytest.raises(ValueError, match=name):
        extract_activations(lm, docs(), progress=False, root=tmp_path, **kw)
    with pytest.raises(ValueError, match="documents"):
        extract_activations(lm, [], site="resid.1", progress=False, root=tmp_path)


def test_reader_splits_standardize_and_training(lm, tmp_path):
    from mplib.sae import TopKSAE, TrainConfig, train

    store = extract_activations(lm, docs(12), site="resid.2", window=16, progress=False,
                                root=tmp_path)
    tr, ev = store.split_ids("train"), store.split_ids("eval")
    assert len(tr) and len(ev) and not set(tr) & set(ev)
    assert len(tr) + len(ev) == store.n_tokens
    b1 = next(store.batches(batch_size=8, seed=3))
    assert torch.equal(b1, next(store.batches(batch_size=8, seed=3)))
    x = torch.from_numpy(store.array[:50].astype(np.float64))
    s = store.standardization(True)
    torch.testing.assert_close(s.invert(s.apply(x)), x, rtol=1e-12, atol=1e-12)
    sae = TopKSAE(32, 64, k=4)
    res = train(sae, store.batches(batch_size=32), TrainConfig(n_steps=60, lr=1e-2,
                warmup_steps=5, progress=False, log_every=10))
    assert res.history["loss"][-1] < res.history["loss"][0]
