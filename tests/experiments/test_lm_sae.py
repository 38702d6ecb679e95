"""Figs. 20–22 recipe on a tiny random Llama's store: data, standardisation, runs, curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mplib.experiments.lm_sae as lm_sae
import mplib.sae.mp as mp_module
from mplib.activations import extract_activations
from mplib.experiments.lm_sae import (
    LMSAEConfig,
    inference_curve,
    lm_data,
    lm_standardization,
    train_lm_sae,
)
from mplib.sae import MPSAE
from tests.activations.store_child import docs, tiny_lm


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return extract_activations(tiny_lm(), docs(n=24), site="resid.2", window=16,
                               batch_size=8, progress=False,
                               root=tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def data(store):
    return lm_data(store, max_eval=200, seed=0)


def _cfg(kind="mp", **kw):
    base = dict(kind=kind, k=4, expansion=4, n_steps=24, batch_size=32, lr=3e-3,
                checkpoints=(0.25, 0.5, 1.0), seed=0)
    return LMSAEConfig(**{**base, **kw})


@pytest.mark.parametrize(("field", "value"), [("kind", "jump"), ("k", 0), ("n_steps", 1.5),
                                               ("checkpoints", (0.5, 0.25)),
                                               ("checkpoints", (0.0, 1.0)), ("lr", -1.0),
                                               ("l1_rate", 1.5), ("seed", -1)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        _cfg(**{field: value})


def test_checkpoint_steps_end_at_n_steps():
    assert _cfg(n_steps=100, checkpoints=(0.01, 0.3, 0.5)).checkpoint_steps() == [1, 30, 50, 100]


def test_data_drops_position_zero_and_standardises(store, data):
    pos = np.asarray(store.index["position"])
    kept = sum(int((pos[store.split_ids(s)] > 0).sum()) for s in ("train", "eval"))
    assert data.identity["n_train"] == data.train.shape[0]
    assert data.train.shape[0] + len(store.split_ids("eval")) - \
        int((pos[store.split_ids("eval")] == 0).sum()) == kept
    z = data.standardization.apply(data.train.double())
    assert z.mean(0).abs().max() < 1e-6
    assert z.norm(dim=1).mean().item() == pytest.approx(store.d ** 0.5, rel=1e-9)


def test_standardization_equals_the_stores_on_the_same_rows(store):
    """With no position dropped our statistics are the store's own (``"zscore"``, ``"scale"``)."""
    train = torch.from_numpy(np.ascontiguousarray(store.array[store.split_ids("train")]))
    for mode in ("zscore", "scale"):
        ours, ref = lm_standardization(train, mode), store.standardization(mode)
        x = torch.randn(5, store.d, dtype=torch.float64)
        torch.testing.assert_close(ours.apply(x), ref.apply(x), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kind", ["relu", "topk", "mp"])
def test_inference_curve_matches_direct_encoding(kind, data, tmp_path):
    """The one-pass curve equals encoding at each k' separately (the models' own rule)."""
    run = train_lm_sae(_cfg(kind), data, root=tmp_path)
    model = run.model()
    X = data.eval
    ks = [1, 2, 3, 5, 8]
    curve = inference_curve(model, X, ks, chunk=64)
    for i, kk in enumerate(ks):
        with torch.no_grad():
            x_hat = model.decode(model.encode(X, k=kk))
        ratio = ((x_hat - X) ** 2).sum(1) / (X**2).sum(1)
        assert curve.nmse[i] == pytest.approx(float(ratio.mean()), rel=1e-4, abs=1e-6)


def test_mp_error_non_increasing_in_k_at_every_checkpoint(data, tmp_path):
    """Fig. 20's property (App. C): each MP step lowers ||r||², at every checkpoint."""
    run = train_lm_sae(_cfg("mp"), data, root=tmp_path)
    assert run.steps == [6, 12, 24]
    for s in run.steps:
        c = inference_curve(run.model(s), data.eval, range(1, 17), n_rank=50)
        assert (np.diff(c.nmse) <= 1e-7).all(), (s, c.nmse)
        assert (c.l0 <= np.arange(1, 17) + 1e-9).all()
        assert np.isfinite(c.effective_rank).all()


def test_runs_are_cached_resume_exactly_and_depend_on_the_seed(data, tmp_path, monkeypatch):
    cut = train_lm_sae(_cfg("topk"), data, root=tmp_path / "a", stop_after=15)
    assert cut.steps == [6, 12]  # the run stopped after its second snapshot
    resumed = train_lm_sae(_cfg("topk"), data, root=tmp_path / "a")
    whole = train_lm_sae(_cfg("topk"), data, root=tmp_path / "b")
    for a, b in zip(resumed.model().state_dict().values(), whole.model().state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    other = train_lm_sae(_cfg("topk", seed=1), data, root=tmp_path / "b")
    assert not torch.equal(other.model().W_dec, whole.model().W_dec)

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was retrained")

    monkeypatch.setattr("mplib.sae.train", no_training)
    again = train_lm_sae(_cfg("topk"), data, root=tmp_path / "b")
    assert again.steps == whole.steps and len(again.history["loss"]) > 0


def test_large_dictionary_gram_path_equals_mp_loop(monkeypatch):
    """The MP-SAE's Gram path for dictionaries past mp_loop's limit takes mp_loop's steps."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 16, generator=g, dtype=torch.float64)
    assert mp_module._large_gram(x[None], 300, 10)
    out = {}
    for limit in (mp_module.GRAM_MAX_ENTRIES, 0):
        monkeypatch.setattr(mp_module, "GRAM_MAX_ENTRIES", limit)
        sae = MPSAE(16, 300, k=10, threshold=None, stop_on_unchanged_support=False,
                    selection="signed", seed=0, dtype=torch.float64)
        res = sae(x)
        res.loss.backward()
        out[limit] = (res.codes.detach(), sae.W.grad.clone())
    (za, ga), (zb, gb) = out.values()
    torch.testing.assert_close(za, zb, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-10)
    assert lm_sae.LM_SAE_KINDS == ("relu", "topk", "mp")
