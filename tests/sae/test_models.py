"""Every model: shapes, the output contract, encode(k), per-run extraction, bad input (#4)."""

from __future__ import annotations

import functools

import pytest
import torch

from mplib.sae import (
    MPSAE,
    REGISTRY,
    BaseSAE,
    BatchTopKSAE,
    JumpReLUSAE,
    MatryoshkaSAE,
    ReLUSAE,
    TopKSAE,
    TrainConfig,
    keep_top_k,
    train,
)

from .sae_helpers import MODELS, make, toy_stream

QUICK = TrainConfig(n_steps=40, warmup_steps=5, progress=False, log_every=10)


@functools.cache
def _trained(name, dtype):
    model = make(name, n_models=3, seed=[0, 1, 2], dtype=dtype)
    stream = toy_stream([0, 1, 2], dtype=dtype)
    cfg = TrainConfig(n_steps=30, warmup_steps=5, progress=False, log_every=10)
    train(model, stream, cfg)
    return model, next(stream)


def trained(name, dtype=torch.float32):
    """A 3-run model trained 30 steps and a fresh batch (cached: do not modify them)."""
    return _trained(name, dtype)


def test_registry_holds_every_model():
    for cls in (MPSAE, ReLUSAE, TopKSAE, BatchTopKSAE, JumpReLUSAE, MatryoshkaSAE):
        assert REGISTRY[cls.__name__] is cls


def test_shapes(model_name, device):
    x = torch.randn(7, 20, device=device)
    single = make(model_name, device=device)
    out = single(x)
    assert out.x_hat.shape == (7, 20) and out.codes.shape == (7, 20)
    assert out.loss.shape == () and out.recon_loss.shape == () and out.aux_loss.shape == ()
    assert single.dictionary.shape == (20, 20)
    assert single.encode(x).shape == (7, 20)
    batched = make(model_name, n_models=3, device=device)
    xb = torch.randn(3, 7, 20, device=device)
    out = batched(xb)
    assert out.x_hat.shape == (3, 7, 20) and out.codes.shape == (3, 7, 20)
    assert out.loss.shape == (3,)
    assert batched.dictionary.shape == (3, 20, 20)
    assert batched.encode(xb).shape == (3, 7, 20)
    assert batched.encode(x).shape == (3, 7, 20)  # one batch shared by every run
    assert out.codes.device.type == device.type


def test_output_contract(model_name):
    """x_hat = decode(codes) and encode = forward's codes, after some training (eval mode)."""
    model, x = trained(model_name, dtype=torch.float64)
    out = model(x)
    torch.testing.assert_close(model.decode(out.codes), out.x_hat, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(model.encode(x), out.codes, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.loss, out.recon_loss + out.aux_loss)
    if model_name.startswith("mp"):
        assert torch.allclose(out.aux_loss, torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("k", [0, 1, 2, 5])
def test_encode_k_bounds_support(model_name, k):
    model, x = trained(model_name)
    z = model.encode(x, k=k)
    assert z.shape == (3, 64, 20)
    assert int((z != 0).sum(-1).max()) <= k


def test_encode_k_keeps_largest_codes():
    """ReLU-type models: encode(x, k) keeps the k largest of the full codes."""
    model, x = trained("relu")
    full, top = model.encode(x), model.encode(x, k=2)
    kept = torch.topk(full, 2, dim=-1).values
    torch.testing.assert_close(torch.topk(top, 2, dim=-1).values, kept)


def test_training_lowers_the_loss(model_name):
    """Issue #4: every model lowers its loss on the toy."""
    model = make(model_name, n_models=2, seed=[0, 1])
    stream = toy_stream([0, 1], batch_size=64)
    cfg = TrainConfig(n_steps=150, warmup_steps=10, progress=False, log_every=25)
    hist = train(model, stream, cfg).history
    first, last = hist["recon_loss"][0], hist["recon_loss"][-1]
    assert hist["loss"].shape == (6, 2)
    assert (last < 0.5 * first).all(), (first, last)


def test_get_run_equals_batched_run(model_name):
    model, x = trained(model_name)
    ref = model(x)
    for m in range(3):
        run = model.get_run(m)
        assert not run.batched and run.seeds == [m]
        out = run(x[m])
        torch.testing.assert_close(out.codes, ref.codes[m])
        torch.testing.assert_close(out.loss, ref.loss[m])
        torch.testing.assert_close(run.dictionary, model.dictionary[m])


def test_per_run_hyper_parameters_pick_their_run():
    model = MPSAE(20, 20, n_models=2, k=[1, 3], threshold=[0.1, 0.2])
    run = model.get_run(1)
    assert run.hyper["k"] == 3 and run.hyper["threshold"] == 0.2
    z = model.encode(torch.randn(2, 50, 20, dtype=torch.float32))
    assert int((z[0] != 0).sum(-1).max()) <= 1
    assert int((z[1] != 0).sum(-1).max()) <= 3


def test_seed_semantics(model_name):
    """Run m of a batch is initialised like an unbatched model with seed ``seed[m]``."""
    batched = make(model_name, n_models=2, seed=[3, 5])
    alone = make(model_name, seed=5)
    for (name, p), q in zip(batched.named_parameters(), alone.parameters()):
        torch.testing.assert_close(p[1], q[0], msg=name)
    assert make(model_name, n_models=2, seed=3).seeds == [3, 4]


def test_config_round_trip(model_name):
    model = make(model_name, n_models=2, seed=[4, 9])
    clone = BaseSAE.from_config(model.config())
    assert clone.config() == model.config()
    x = torch.randn(2, 5, 20)
    torch.testing.assert_close(clone(x).x_hat, model(x).x_hat)


def test_keep_top_k_matches_sort():
    g = torch.Generator().manual_seed(0)
    z = torch.rand(2, 6, 9, generator=g)
    out = keep_top_k(z, 3)
    for m in range(2):
        for b in range(6):
            idx = torch.argsort(z[m, b], descending=True)[:3]
            ref = torch.zeros(9)
            ref[idx] = z[m, b, idx]
            torch.testing.assert_close(out[m, b], ref)
    per_run = keep_top_k(z, torch.tensor([1, 4]))
    assert (per_run[0] != 0).sum(-1).max() == 1 and (per_run[1] != 0).sum(-1).max() == 4
    assert keep_top_k(z, 0).abs().sum() == 0


# --------------------------------------------------------------------------------- bad input
def test_bad_inputs(model_name):
    model = make(model_name, n_models=2)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        model([[0.0] * 20])
    with pytest.raises(TypeError, match="dtype"):
        model(torch.zeros(2, 3, 20, dtype=torch.float64))
    with pytest.raises(ValueError, match="d_in=20"):
        model(torch.zeros(2, 3, 19))
    with pytest.raises(ValueError, match="n_models=2"):
        model(torch.zeros(3, 3, 20))
    with pytest.raises(ValueError, match="k must be >= 0"):
        model.encode(torch.zeros(2, 3, 20), k=-1)
    with pytest.raises(ValueError, match=r"m must be in \[0, 2\)"):
        model.get_run(2)


@pytest.mark.parametrize(
    "cls, kwargs, exc, match",
    [
        (MPSAE, dict(d_in=0), ValueError, "d_in must be >= 1"),
        (MPSAE, dict(n_models=0), ValueError, "n_models must be >= 1"),
        (MPSAE, dict(seed=-1), ValueError, "seeds must be non-negative"),
        (MPSAE, dict(seed=[0, 1], n_models=3), ValueError, "n_models=3 but seed holds 2"),
        (MPSAE, dict(k=0), ValueError, "k must be >= 1"),
        (MPSAE, dict(k=[1, 2]), ValueError, r"k must hold one value per run \(1\)"),
        (MPSAE, dict(threshold=-0.1), ValueError, "threshold must be > 0"),
        (MPSAE, dict(selection="max"), ValueError, "selection must be one of"),
        (MPSAE, dict(coefficient="lsq"), ValueError, "coefficient must be one of"),
        (MPSAE, dict(atom_dropout=1.0), ValueError, "atom_dropout must be < 1"),
        (MPSAE, dict(revive_coef=float("nan")), ValueError, "revive_coef must be finite"),
        (MPSAE, dict(reduction="max"), ValueError, "reduction must be one of"),
        (MPSAE, dict(dtype=torch.int64), TypeError, "dtype must be a floating"),
        (ReLUSAE, dict(l1_coef=-1.0), ValueError, "l1_coef must be >= 0"),
        (ReLUSAE, dict(target_l0=0.0), ValueError, "target_l0 must be > 0"),
        (ReLUSAE, dict(l1_rate=1.0), ValueError, "l1_rate must be < 1"),
        (TopKSAE, dict(k=21), ValueError, "k must be <= n_latents=20"),
        (TopKSAE, dict(aux_k=0), ValueError, "aux_k must be >= 1"),
        (TopKSAE, dict(dead_steps=True), TypeError, "dead_steps must be an int"),
        (BatchTopKSAE, dict(target_l0=[1.0, 2.0]), ValueError, "target_l0 must hold one"),
        (BatchTopKSAE, dict(threshold_momentum=1.0), ValueError, "threshold_momentum"),
        (JumpReLUSAE, dict(bandwidth=0.0), ValueError, "bandwidth must be > 0"),
        (JumpReLUSAE, dict(threshold_init=-1.0), ValueError, "threshold_init must be > 0"),
        (MatryoshkaSAE, dict(n_prefixes=21), ValueError, "n_prefixes must be <= n_latents"),
        (MatryoshkaSAE, dict(permutation="sorted"), ValueError, "permutation must be one of"),
        (MatryoshkaSAE, dict(permute_latents=1), TypeError, "permute_latents must be a bool"),
        (MatryoshkaSAE, dict(norm_momentum=1.5), ValueError, "norm_momentum must be < 1"),
    ],
)
def test_bad_hyper_parameters(cls, kwargs, exc, match):
    kw = dict(d_in=20, n_latents=20) | kwargs
    with pytest.raises(exc, match=match):
        cls(**kw)


def test_every_model_configuration_is_exercised():
    assert {cls for cls, _ in MODELS.values()} == set(REGISTRY.values())


def test_per_run_k_of_topk():
    model = TopKSAE(20, 20, n_models=2, k=[1, 3], seed=[0, 1])
    x = torch.randn(2, 40, 20)
    z = model.encode(x)
    assert (z[0] != 0).sum(-1).max() == 1 and (z[1] != 0).sum(-1).max() == 3
    torch.testing.assert_close(model.get_run(1).encode(x[1]), z[1])
