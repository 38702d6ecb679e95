"""SmolLM2 dark-matter recipe: SAE cache, analysis arrays in raw scale, splits, other sites."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.experiments import dark_matter_lm as dm

N_TOKENS = dm.LM_TOKENS["smoke"]


@pytest.mark.parametrize("field, value", [("width", 0), ("k", 0), ("kind", "relu"),
                                          ("lr", -1.0), ("n_steps", 0)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        dm.LMSAEConfig(**{field: value})


def test_config_rejects_k_above_width():
    with pytest.raises(ValueError, match="k must be <= width"):
        dm.LMSAEConfig(width=8, k=16)


@pytest.fixture(scope="module")
def tiny():
    saes = dm.lm_saes([64], k=8, n_tokens=N_TOKENS, n_steps=10, batch_size=128)
    return saes, dm.lm_analysis_arrays(saes, n_tokens=N_TOKENS)


@pytest.mark.slow
def test_splits_disjoint_and_positions_dropped(tiny):
    store = dm.dm_store(N_TOKENS)
    tr, ev = dm.site_rows(store, "train"), dm.site_rows(store, "eval")
    assert len(tr) and len(ev) and not np.intersect1d(tr, ev).size
    _, a = tiny
    assert a.positions.min() >= dm.DM_FIRST_POSITION
    np.testing.assert_array_equal(a.rows, ev)


@pytest.mark.slow
def test_analysis_arrays_are_raw_scale_float64(tiny):
    saes, a = tiny
    e = saes[0]
    assert a.X.dtype == np.float64 and a.X_hat[0].dtype == np.float64
    store = dm.dm_store(N_TOKENS)
    np.testing.assert_array_equal(a.X, store.array[a.rows].astype(np.float64))
    with torch.no_grad():
        z = e.sae.encode(torch.from_numpy(a.X).float() * e.scale)
        manual = (e.sae.decode(z).double() / e.scale).numpy()
    np.testing.assert_allclose(a.X_hat[0], manual, rtol=1e-6, atol=1e-6)
    # raw scale: a reconstruction much better than zero, on the activations' scale
    err = ((a.X - a.X_hat[0]) ** 2).sum() / (a.X ** 2).sum()
    assert err < 0.5
    assert (a.l0[0] == 8).all()


@pytest.mark.slow
def test_sae_cache_is_reused(tiny):
    saes, _ = tiny
    again = dm.lm_saes([64], k=8, n_tokens=N_TOKENS, n_steps=10, batch_size=128)
    assert again[0].folder == saes[0].folder
    for p, q in zip(saes[0].sae.parameters(), again[0].sae.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.slow
def test_site_arrays_align_with_store():
    store = dm.dm_store(N_TOKENS)
    d = dm.site_arrays(N_TOKENS, ["resid.15", "heads.15"], loss=True)
    np.testing.assert_array_equal(d["resid.15"], store.array)
    assert d["heads.15"].shape == (N_TOKENS, 576)
    assert np.isfinite(d["loss"]).sum() == N_TOKENS - len(dm._windows(store))
