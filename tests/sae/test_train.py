"""The trainer: batched = sequential, checkpoints and resume, schedules, clipping, configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mplib.sae import (
    MPSAE,
    TensorBatches,
    TrainConfig,
    clip_grad_norm_per_run,
    is_checkpoint,
    load_checkpoint,
    load_model,
    lr_factor,
    lr_factors,
    save_checkpoint,
    train,
)

from .sae_helpers import make, toy_stream

F64 = torch.float64


def cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(n_steps=25, warmup_steps=5, progress=False, log_every=5), **kw})


def test_batched_equals_sequential(model_name):
    """Issue #4/#5: run m of a batch equals training it alone with the same seed and data."""
    seeds = [3, 7, 11]
    batched = make(model_name, n_models=3, seed=seeds, dtype=F64)
    res = train(batched, toy_stream(seeds, dtype=F64), cfg())
    for m, s in enumerate(seeds):
        alone = make(model_name, seed=s, dtype=F64)
        res1 = train(alone, toy_stream([s], dtype=F64), cfg())
        for (name, p), q in zip(batched.named_parameters(), alone.parameters()):
            torch.testing.assert_close(p[m], q[0], rtol=1e-7, atol=1e-9, msg=name)
        for (name, b), c in zip(batched.named_buffers(), alone.buffers()):
            torch.testing.assert_close(b[m], c[0], rtol=1e-7, atol=1e-9, msg=name)
        np.testing.assert_allclose(res.history["loss"][:, m], res1.history["loss"], rtol=1e-6)


def test_history_and_schedule():
    model = MPSAE(20, 20, n_models=2)
    c = cfg(n_steps=30, log_every=10)
    res = train(model, toy_stream([0, 1]), c)
    h = res.history
    assert list(h["step"]) == [10, 20, 30]
    assert {"loss", "recon_loss", "aux_loss", "l0", "lr"} <= set(h)
    assert h["loss"].shape == (3, 2) and h["l0"].shape == (3, 2)
    np.testing.assert_allclose(h["lr"], [c.lr * lr_factor(c, s) for s in (9, 19, 29)])
    assert res.n_steps_run == 30 and res.steps_per_second > 0
    assert not model.training  # eval mode after training


def _wsd_oracle(step, n, warmup=100, cooldown=0.2, end=0.1):
    """The toy's schedule (``get_wsd_scheduler`` of ``mpsae/MP-SAE``), from its definition."""
    if step < warmup:
        return step / warmup
    if step < (1 - cooldown) * n:
        return 1.0
    return 1 - (1 - end) * min(step - (1 - cooldown) * n, (1 - cooldown) * n) / (
        cooldown * n + 1e-2)


def test_wsd_schedule_is_the_toys():
    c = TrainConfig()
    got = lr_factors(c)
    assert len(got) == 15_000
    np.testing.assert_allclose(got, [_wsd_oracle(s, 15_000) for s in range(15_000)], rtol=1e-12)
    assert got[0] == 0.0 and got[100] == 1.0 and abs(got[-1] - 0.1) < 1e-3


def test_cosine_schedule():
    c = TrainConfig(n_steps=1000, schedule="cosine", warmup_steps=10, initial_lr_factor=0.002,
                    final_lr_factor=0.002)
    f = np.array(lr_factors(c))
    assert f[0] == pytest.approx(0.002) and f[10] == pytest.approx(1.0)
    assert f[-1] == pytest.approx(0.002) and (np.diff(f[10:]) <= 1e-15).all()
    assert TrainConfig(schedule="constant", warmup_steps=0).n_steps and lr_factor(
        TrainConfig(schedule="constant", warmup_steps=0), 7000) == 1.0


def test_per_run_clipping_equals_torch_clipping():
    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.zeros(3, 4, 5)), torch.nn.Parameter(torch.zeros(3, 5))]
    for p, scale in zip(params, (1.0, 3.0)):
        p.grad = scale * torch.randn(p.shape, generator=g, dtype=p.dtype)
    params[0].grad[2] *= 1e-3  # run 2 below the threshold: untouched
    expected = []
    for m in range(3):
        single = [torch.nn.Parameter(p.detach()[m].clone()) for p in params]
        for s, p in zip(single, params):
            s.grad = p.grad[m].clone()
        torch.nn.utils.clip_grad_norm_(single, 1.0)
        expected.append([s.grad for s in single])
    clip_grad_norm_per_run(params, 1.0)
    for m in range(3):
        for p, e in zip(params, expected[m]):
            torch.testing.assert_close(p.grad[m], e)


@pytest.mark.parametrize("mode", ["unit", "ball"])
def test_decoder_norm_constraint(mode):
    model = make("relu", n_models=2)
    train(model, toy_stream([0, 1]), cfg(decoder_norm=mode, n_steps=10))
    norms = model.W_dec.detach().norm(dim=-1)
    if mode == "unit":
        torch.testing.assert_close(norms, torch.ones_like(norms))
    else:
        assert float(norms.max()) <= 1 + 1e-6


def test_tensor_batches_orders_are_per_run_permutations():
    X = torch.arange(40.0).reshape(20, 2)
    tb = TensorBatches(X, 5, [1, 2], seed=3)
    seen = torch.cat([next(tb) for _ in range(4)], 1)  # one epoch
    assert seen.shape == (2, 20, 2)
    for m in range(2):
        assert sorted(seen[m, :, 0].tolist()) == X[:, 0].tolist()
    alone = TensorBatches(X, 5, [2], seed=3)
    torch.testing.assert_close(next(alone)[0], seen[1, :5])  # run 2's order is its own
    tb.load_state_dict({"step": 1})
    torch.testing.assert_close(next(tb), seen[:, 5:10])
    single = TensorBatches(X, 5, [2], seed=3, batched=False)
    assert next(single).shape == (5, 2)


def test_train_from_a_tensor_equals_sequential():
    X = torch.as_tensor(np.random.default_rng(0).standard_normal((300, 20)))
    c = cfg(batch_size=50, n_steps=12)
    batched = make("topk", n_models=2, seed=[5, 6], dtype=F64)
    train(batched, X, c)
    alone = make("topk", seed=6, dtype=F64)
    train(alone, X, c)
    torch.testing.assert_close(batched.W_dec[1], alone.W_dec[0])


# --------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip(tmp_path, model_name):
    model = make(model_name, n_models=2, seed=[1, 2], dtype=F64)
    stream = toy_stream([1, 2], dtype=F64)
    c = cfg(n_steps=8)
    train(model, stream, c)
    path = save_checkpoint(tmp_path / "ck", model, cfg=c, train_state={"step": 8})
    assert is_checkpoint(path) and (path / "cfg.json").is_file()
    assert json.loads((path / "model.json").read_text())["class"] == type(model).__name__
    ck = load_checkpoint(path)
    assert ck.cfg == c and ck.train_state == {"step": 8}
    assert ck.model.config() == model.config()
    x = next(stream)
    torch.testing.assert_close(ck.model(x).x_hat, model(x).x_hat)
    for (name, a), b in zip(model.state_dict().items(), ck.model.state_dict().values()):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(a, b, msg=name)
    assert load_model(path).config() == model.config()


def test_checkpoint_refuses_incomplete_folders(tmp_path):
    model = MPSAE(20, 20)
    path = save_checkpoint(tmp_path / "ck", model)
    (path / ".done").unlink()
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="not a folder"):
        load_checkpoint(tmp_path / "missing")
    # overwriting replaces the folder as a whole and leaves no temporary folders behind
    save_checkpoint(tmp_path / "ck", model)
    save_checkpoint(tmp_path / "ck", MPSAE(20, 20, seed=1))
    assert load_model(tmp_path / "ck").seeds == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


class _Stop(Exception):
    pass


@pytest.mark.parametrize("name, tensor_data", [("matryoshka", False), ("mp", False),
                                               ("batchtopk", True)])
def test_resume_equals_uninterrupted(tmp_path, name, tensor_data):
    """Kill a run after its checkpoint at step 10, resume it: same result as one go."""
    seeds = [0, 1]
    X = torch.as_tensor(np.random.default_rng(1).standard_normal((400, 20)))

    def data():
        return X if tensor_data else toy_stream(seeds, dtype=F64)

    c = cfg(n_steps=20, checkpoint_every=10, checkpoint_dir=str(tmp_path / "ck"), batch_size=40)
    full = make(name, n_models=2, seed=seeds, dtype=F64)
    ref = train(full, data(), cfg(n_steps=20, batch_size=40))

    def die(step, model, out):
        if step == 13:
            raise _Stop

    part = make(name, n_models=2, seed=seeds, dtype=F64)
    with pytest.raises(_Stop):
        train(part, data(), c, callback=die)
    assert load_checkpoint(tmp_path / "ck").train_state["step"] == 10
    resumed = make(name, n_models=2, seed=seeds, dtype=F64)
    res = train(resumed, data(), c, resume=True)
    assert res.n_steps_run == 10
    for (pname, p), q in zip(full.named_parameters(), resumed.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12, msg=pname)
    np.testing.assert_allclose(res.history["loss"], ref.history["loss"], rtol=1e-10)


def test_resume_refuses_another_model(tmp_path):
    c = cfg(n_steps=4, checkpoint_dir=str(tmp_path / "ck"))
    train(MPSAE(20, 20, n_models=2), toy_stream([0, 1]), c)
    with pytest.raises(ValueError, match="differs from the model's"):
        train(MPSAE(20, 20, n_models=2, k=3), toy_stream([0, 1]), c, resume=True)
    with pytest.raises(ValueError, match="resume=True needs cfg.checkpoint_dir"):
        train(MPSAE(20, 20), toy_stream([0]), cfg(), resume=True)


# --------------------------------------------------------------------------------- configs
def test_config_json_round_trip():
    c = TrainConfig(n_steps=10, betas=(0.9, 0.95), schedule="cosine", checkpoint_dir="x")
    d = json.loads(json.dumps(c.to_dict()))
    assert TrainConfig.from_dict(d) == c
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields: \['n_step'\]"):
        TrainConfig.from_dict({"n_step": 3})


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(n_steps=0), ValueError, "n_steps must be >= 1"),
        (dict(n_steps=1.5), TypeError, "n_steps must be an int"),
        (dict(lr=0.0), ValueError, "lr must be > 0"),
        (dict(lr=float("inf")), ValueError, "lr must be finite"),
        (dict(optimizer="sgd"), ValueError, "optimizer must be one of"),
        (dict(betas=(0.9,)), ValueError, "betas must be a pair"),
        (dict(betas=(0.9, 1.0)), ValueError, r"betas must lie in \[0, 1\)"),
        (dict(eps=0.0), ValueError, "eps must be > 0"),
        (dict(weight_decay=-1e-5), ValueError, "weight_decay must be >= 0"),
        (dict(schedule="linear"), ValueError, "schedule must be one of"),
        (dict(warmup_steps=-1), ValueError, "warmup_steps must be >= 0"),
        (dict(decay_fraction=1.5), ValueError, "decay_fraction must be <= 1"),
        (dict(final_lr_factor=-0.1), ValueError, "final_lr_factor must be >= 0"),
        (dict(grad_clip=0.0), ValueError, "grad_clip must be > 0"),
        (dict(decoder_norm="sphere"), ValueError, "decoder_norm must be one of"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
        (dict(seed=-2), ValueError, "seed must be >= 0"),
        (dict(log_every=0), ValueError, "log_every must be >= 1"),
        (dict(progress="yes"), TypeError, "progress must be a bool"),
        (dict(checkpoint_every=10), ValueError, "checkpoint_every needs checkpoint_dir"),
    ],
)
def test_bad_config_names_the_field(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TrainConfig(**kwargs)


def test_bad_train_arguments():
    with pytest.raises(TypeError, match="model must be an mplib SAE"):
        train(torch.nn.Linear(2, 2), toy_stream([0]), cfg())
    with pytest.raises(TypeError, match="cfg must be a TrainConfig"):
        train(MPSAE(20, 20), toy_stream([0]), {"n_steps": 3})
    with pytest.raises(TypeError, match="data must be a torch.Tensor or an iterator"):
        train(MPSAE(20, 20), 3.0, cfg())
    with pytest.raises(ValueError, match="batch_size must be <= the number of samples"):
        train(MPSAE(20, 20), torch.zeros(10, 20), cfg(batch_size=50))
    with pytest.raises(ValueError, match="n_models=2"):
        train(MPSAE(20, 20, n_models=2), toy_stream([0, 1, 2]), cfg())


def test_stacked_streams_train_like_their_parts():
    """Table 1 style: two distributions in one batched model, per-run MP thresholds."""
    from mplib.datasets import ToySpec, ToyStream
    from mplib.sae import StackedStreams

    def streams():
        a = ToyStream(ToySpec("table1", child_mean=0.5, child_std=0.025), [0, 1], batch_size=64,
                      dtype=F64)
        b = ToyStream(ToySpec("matryoshka"), [5], batch_size=64, dtype=F64)
        return a, b

    model = MPSAE(20, 20, n_models=3, seed=[0, 1, 5], threshold=[0.05, 0.05, 0.6], dtype=F64)
    train(model, StackedStreams(*streams()), cfg(n_steps=15))
    alone = MPSAE(20, 20, seed=5, threshold=0.6, dtype=F64)
    train(alone, streams()[1], cfg(n_steps=15))
    torch.testing.assert_close(model.W[2], alone.W[0], rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="streams must hold at least one stream"):
        StackedStreams()


def test_large_scale_recipe():
    """Paper App. B.2: AdamW, cosine 1e-6 -> 5e-4 -> 1e-6, wd 1e-5, atoms in the unit ball."""
    c = TrainConfig.large_scale(1000, progress=False)
    lrs = [c.lr * f for f in lr_factors(c)]
    np.testing.assert_allclose([lrs[0], max(lrs), lrs[-1]], [1e-6, 5e-4, 1e-6], rtol=1e-9)
    assert (c.optimizer, c.weight_decay, c.decoder_norm) == ("adamw", 1e-5, "ball")
    assert TrainConfig.from_dict(c.to_dict()) == c
