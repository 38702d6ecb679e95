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


def _toy_entry(d=12, width=20, k=3, seed=0):
    from mplib.sae import TopKSAE

    sae = TopKSAE(d, width, k=k, seed=seed).eval()
    cfg = dm.LMSAEConfig(width=width, k=k, n_tokens=1, n_steps=1)
    return dm.LMSAE(width, k, "topk", "resid.15", sae, 0.5, None, cfg)


def test_pursuit_analysis_respects_budgets_on_a_toy_sae():
    rng = np.random.default_rng(0)
    e = _toy_entry()
    X = rng.normal(size=(600, 12)) + 1.0
    X_hat, l0 = dm.sae_reconstruct(e, X)
    res = dm.pursuit_analysis(e, X, X_hat, l0, seed=0)
    assert res["budget_respected"] and res["l0_pursuit"] <= res["l0_sae"]
    for key in ("sae", "pursuit"):
        assert 0 <= res[key]["nonlinear_fvu"] <= res[key]["fvu"] + 1e-12


def test_sae_reconstruct_is_raw_scale():
    rng = np.random.default_rng(1)
    e = _toy_entry()
    X = rng.normal(size=(50, 12))
    X_hat, _ = dm.sae_reconstruct(e, X)
    with torch.no_grad():
        manual = e.sae(torch.tensor(X * 0.5, dtype=torch.float32)).x_hat.double() / 0.5
    np.testing.assert_allclose(X_hat, manual.numpy(), rtol=1e-6, atol=1e-6)


def test_earlier_sites_oracle_predictors():
    """A predictor equal to x explains the linear part exactly (held-out R² 1)."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 6))
    X_hat = 0.7 * X + 0.1 * np.tanh(3 * X)
    r2 = dm.earlier_sites_r2(X, X_hat, {"x": X, "noise": rng.normal(size=(2000, 6))})
    assert r2["x"]["linear"] > 1 - 1e-9
    assert abs(r2["noise"]["error"]) < 0.05


def test_norm_baselines_oracles():
    rng = np.random.default_rng(3)
    X = rng.uniform(1.0, 3.0, size=(4000, 5))
    E = np.zeros_like(X)
    E[:, 1] = np.sqrt(X[:, 0])  # ‖e‖² = x_0 exactly: linear in x
    X_hat = X - E
    ids = rng.integers(0, 50, 4000)
    out = dm.norm_baselines(X, X_hat, loss=rng.normal(size=4000), l0=rng.integers(1, 9, 4000),
                            token_ids=ids)
    assert abs(out["loss"]) < 0.02 and abs(out["l0"]) < 0.02  # independent of the target
    assert out["x"] > 1 - 1e-9
    assert out["token_mean_in_sample"] >= out["token_mean_held_out"]


@pytest.mark.slow
def test_downstream_ce_runs_on_the_smoke_store(tiny):
    saes, _ = tiny
    with pytest.warns(RuntimeWarning, match="fewer than 20 tokens per predictor"):
        res = dm.downstream_ce(saes[0], n_tokens=N_TOKENS, max_windows=1, max_positions=20,
                               split="all")
    assert set(res["loss"]) == set(dm.VARIANTS)
    assert all(np.isfinite(v) for v in res["loss"].values())
    assert res["loss"]["sae"] > res["loss"]["original"]
    assert res["n_predictions"] == 20 - dm.DM_FIRST_POSITION - 1
