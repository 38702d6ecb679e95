"""MP-SAE on real data (mplib.experiments.real_sae): Fig. 8's monotonicity, geometry metrics
against direct numpy formulas on real dictionaries, the CNN backbone's accuracy, the extractor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.datasets import load_mnist, sample_patches
from mplib.experiments.real_sae import (
    Backbone,
    FamilyConfig,
    adaptive_k_curve,
    geometric_median,
    load_backbone,
    make_sae,
    progressive_reconstruction,
    train_family,
)
from mplib.metrics import babel, babel_coselected, effective_rank


@pytest.fixture(scope="module")
def patches():
    """A few thousand 8×8 patches of a few hundred real MNIST digits, centred and scaled."""
    m = load_mnist(n_train=300, n_eval=100, seed=0)
    draw = lambda X, n, s: sample_patches(list(X.reshape(-1, 28, 28).astype(float)),  # noqa: E731
                                          patch_size=8, n_patches=n, seed=s)
    tr, ev = draw(m.X_train, 6000, 1), draw(m.X_eval, 1500, 2)
    tr, ev = tr[tr.sum(1) > 0][:3000], ev[ev.sum(1) > 0][:600]
    mean, scale = tr.mean(0), np.sqrt(((tr - tr.mean(0)) ** 2).sum(1).mean() / 64)
    return Backbone("patches", ((tr - mean) / scale).astype(np.float32),
                    ((ev - mean) / scale).astype(np.float32), {})


@pytest.fixture(scope="module")
def family(patches):
    cfg = FamilyConfig(ks=(2, 8), expansion=2, n_steps=60, batch_size=128, n_babel=300,
                       r_max=20)
    return train_family(patches, cfg, stem="test_real_sae")


def _babel_numpy(D, r_max):
    D = D / np.linalg.norm(D, axis=1, keepdims=True)
    G = np.abs(D @ D.T)
    np.fill_diagonal(G, -1.0)
    rows = -np.sort(-G, axis=1)[:, :r_max]
    return np.cumsum(rows, axis=1).max(0)


def _erank_numpy(Z):
    lam = np.clip(np.linalg.eigvalsh(Z.T @ Z), 0, None)
    q = lam / lam.sum()
    q = q[q > 0]
    return float(np.exp(-(q * np.log(q)).sum()))


def _coselected_numpy(D, Z, r_max):
    D = D / np.linalg.norm(D, axis=1, keepdims=True)
    sums, counts = np.zeros(r_max), np.zeros(r_max, int)
    for z in Z:
        S = np.flatnonzero(z != 0)
        if len(S) < 2:
            continue
        G = np.abs(D[S] @ D[S].T)
        np.fill_diagonal(G, -1.0)
        cums = np.cumsum(-np.sort(-G, axis=1)[:, : len(S) - 1], axis=1).max(0)
        n = min(r_max, len(S) - 1)
        sums[:n] += cums[:n]
        counts[:n] += 1
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def test_family_runs_and_metrics_are_consistent(family, patches):
    assert [(r.kind, r.k) for r in family] == [(kd, k) for kd in
                                               ("relu", "topk", "batchtopk", "jumprelu", "mp")
                                               for k in (2, 8)]
    mp8 = next(r for r in family if r.kind == "mp" and r.k == 8)
    X = torch.as_tensor(patches.X_eval)
    with torch.no_grad():
        z = mp8.model.encode(X)
        x_hat = mp8.model.decode(z)
    r2 = 1 - ((X - x_hat) ** 2).sum() / ((X - X.mean(0)) ** 2).sum()
    assert mp8.metrics["r2"] == pytest.approx(float(r2), abs=1e-4)
    assert mp8.metrics["l0"] <= 8
    assert mp8.metrics["r2"] > next(r for r in family if r.kind == "mp" and r.k == 2).metrics["r2"]


@pytest.mark.parametrize("kind", ["mp", "topk", "relu"])
def test_babel_and_effective_rank_match_numpy_on_real_dictionaries(family, patches, kind):
    run = next(r for r in family if r.kind == kind and r.k == 8)
    D = run.model.dictionary.detach().double().numpy()
    np.testing.assert_allclose(run.metrics["babel"], _babel_numpy(D, 20), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(babel(D, r_max=20), _babel_numpy(D, 20), rtol=1e-9, atol=1e-9)
    with torch.no_grad():
        Z = run.model.encode(torch.as_tensor(patches.X_eval)).double().numpy()
    assert run.metrics["effective_rank"] == pytest.approx(_erank_numpy(Z), rel=1e-4)
    co = babel_coselected(D, Z[:300], r_max=7)
    np.testing.assert_allclose(co.babel, _coselected_numpy(D, Z[:300], 7), rtol=1e-9, atol=1e-9)
    assert effective_rank(Z) == pytest.approx(_erank_numpy(Z), rel=1e-9)


def test_fig8_mp_error_is_monotone_in_inference_k(family, patches):
    """Fig. 8's property (App. C): each extra pursuit step lowers the error, at every k′."""
    ks = list(range(1, 33))
    for k_train in (2, 8):
        mp = next(r for r in family if r.kind == "mp" and r.k == k_train).model
        curve = adaptive_k_curve(mp, patches.X_eval, ks)
        assert np.all(np.diff(curve) <= 1e-7), curve
        # the one-pursuit shortcut equals separate k′-step encodings
        for k in (1, 5, 17):
            z = mp.encode(torch.as_tensor(patches.X_eval), k=k)
            x_hat = mp.decode(z).detach().numpy()
            X = patches.X_eval
            fvu = ((X - x_hat) ** 2).sum() / ((X - X.mean(0)) ** 2).sum()
            assert curve[k - 1] == pytest.approx(float(fvu), rel=1e-5)


def test_fig8_fails_for_a_non_monotone_model(family, patches):
    """The monotonicity check can fail: TopK past its training k is not monotone here."""
    topk = next(r for r in family if r.kind == "topk" and r.k == 2).model
    curve = adaptive_k_curve(topk, patches.X_eval, list(range(1, 65)))
    mp = next(r for r in family if r.kind == "mp" and r.k == 2).model
    assert curve[-1] > adaptive_k_curve(mp, patches.X_eval, [64])[0]


def test_progressive_reconstruction_ends_at_the_decoding(family, patches):
    mp = next(r for r in family if r.kind == "mp" and r.k == 8).model
    x = patches.X_eval[3]
    pr = progressive_reconstruction(mp, x)
    with torch.no_grad():
        full = mp.decode(mp.encode(torch.as_tensor(x)[None]))[0].numpy()
    np.testing.assert_allclose(pr.images[-1], full, atol=1e-5)
    assert np.all(np.diff(np.abs(pr.coefficients)) <= 0)
    assert len(pr.images) == len(pr.atoms) + 1


def test_geometric_median_minimises_the_sum_of_distances():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(50, 3)), rng.normal(20, 1, size=(5, 3))])
    m = geometric_median(X)
    cost = lambda c: np.linalg.norm(X - c, axis=1).sum()  # noqa: E731
    for _ in range(20):
        assert cost(m) <= cost(m + rng.normal(scale=0.05, size=3)) + 1e-9
    assert np.linalg.norm(m) < np.linalg.norm(X.mean(0))  # robust to the far cluster


def test_family_config_validates():
    with pytest.raises(ValueError, match="kinds"):
        FamilyConfig(kinds=("relu", "nope"))
    with pytest.raises(ValueError, match="ks"):
        FamilyConfig(ks=(0, 2))
    with pytest.raises(ValueError, match="n_steps"):
        FamilyConfig(n_steps=0)
    with pytest.raises(ValueError, match="device"):
        FamilyConfig(device="tpu")
    with pytest.raises(ValueError, match="kind"):
        make_sae("vanilla", 4, 8, 2)
    with pytest.raises(ValueError, match="name"):
        load_backbone("dinov2", n_train=10, n_eval=10)


@pytest.mark.slow
def test_cnn_backbone_reaches_97_percent_on_the_held_out_digits():
    """The CNN behind backbone (b), quick-preset settings: >= 97 % on the 1,000 held-out digits."""
    bb = load_backbone("cnn", n_train=20000, n_eval=4000, seed=0, n_digits=(4000, 1000),
                       cnn_epochs=12)
    assert bb.info["cnn_eval_accuracy"] >= 0.97
    assert bb.X_train.shape == (20000, 64) and bb.X_eval.shape == (4000, 64)


@pytest.mark.slow
def test_minilm_extractor_matches_the_model_and_drops_special_tokens():
    from mplib.datasets import Document
    from mplib.experiments.real_sae import MINILM_LAYER, minilm_token_states
    from mplib.models import load_minilm

    text = "Matching pursuit picks one atom at a time and subtracts its projection."
    out = minilm_token_states([Document("d", "t", text)], max_tokens=1000)
    enc = load_minilm()
    batch = enc.tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        h = enc.model(**batch, output_hidden_states=True).hidden_states[MINILM_LAYER][0]
    assert out.shape == (batch["input_ids"].shape[1] - 2, 384)
    np.testing.assert_allclose(out, h[1:-1].numpy(), atol=1e-4)
