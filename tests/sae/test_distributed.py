"""Data-parallel training under torchrun (two gloo processes) equals one process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from mplib.sae import MPSAE, TopKSAE, TrainConfig, load_checkpoint, train
from mplib.sae.distributed import ShardedBatches, train_distributed

SCRIPT = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(1)
    from mplib.sae import MPSAE, TopKSAE, TrainConfig
    from mplib.sae.distributed import train_distributed

    kind, out, n_steps, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    g = torch.Generator().manual_seed(0)
    X = torch.randn(512, 16, generator=g, dtype=torch.float64)
    model = (TopKSAE(16, 48, k=4, seed=3, dtype=torch.float64) if kind == "topk" else
             MPSAE(16, 48, k=4, threshold=None, stop_on_unchanged_support=False, seed=3,
                   dtype=torch.float64))
    cfg = TrainConfig(n_steps=n_steps, batch_size=64, lr=1e-3, checkpoint_dir=out,
                      checkpoint_every=2, progress=False)

    def die(step, model, output):
        import os
        if step + 1 == kill_at and int(os.environ["RANK"]) == 1 and \\
                int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) == 0:
            open(out + ".killed", "w").close()
            os._exit(3)   # a killed rank, once

    train_distributed(model, X, cfg, resume=True, callback=die, backend="gloo")
    """
)


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(512, 16, generator=g, dtype=torch.float64)


def _model(kind):
    if kind == "topk":
        return TopKSAE(16, 48, k=4, seed=3, dtype=torch.float64)
    return MPSAE(16, 48, k=4, threshold=None, stop_on_unchanged_support=False, seed=3,
                 dtype=torch.float64)


def _torchrun(tmp_path, kind, n_steps, kill_at=-1):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "ckpt"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "--max-restarts", "1", str(script), kind, str(out), str(n_steps), str(kill_at)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return load_checkpoint(out)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["topk", "mp"])
def test_two_gloo_ranks_equal_one_process(tmp_path, kind):
    ck = _torchrun(tmp_path, kind, n_steps=6)
    single = _model(kind)
    train(single, _data(), TrainConfig(n_steps=6, batch_size=64, lr=1e-3, progress=False))
    for name, p in single.state_dict().items():
        torch.testing.assert_close(ck.model.state_dict()[name], p, atol=1e-10, rtol=0,
                                   msg=f"parameter {name}")
    assert ck.train_state["step"] == 6


@pytest.mark.slow
def test_resume_after_a_killed_rank(tmp_path):
    ck = _torchrun(tmp_path, "topk", n_steps=6, kill_at=3)  # rank 1 dies at step 3, restarts
    assert (tmp_path / "ckpt.killed").exists()
    single = _model("topk")
    train(single, _data(), TrainConfig(n_steps=6, batch_size=64, lr=1e-3, progress=False))
    for name, p in single.state_dict().items():
        torch.testing.assert_close(ck.model.state_dict()[name], p, atol=1e-10, rtol=0)


def test_one_process_is_plain_training():
    a, b = _model("topk"), _model("topk")
    cfg = TrainConfig(n_steps=3, batch_size=64, progress=False)
    train_distributed(a, _data(), cfg)
    train(b, _data(), cfg)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, atol=0, rtol=0, msg=name)


def test_sharded_batches_partition_the_global_batch():
    batches = iter([torch.arange(12.0).reshape(6, 2)])
    parts = [next(ShardedBatches(iter([torch.arange(12.0).reshape(6, 2)]), r, 3))
             for r in range(3)]
    torch.testing.assert_close(torch.cat(parts), next(batches))
    with pytest.raises(ValueError, match="divide evenly"):
        next(ShardedBatches(iter([torch.zeros(5, 2)]), 0, 2))
    with pytest.raises(ValueError, match="rank"):
        ShardedBatches(iter([]), 2, 2)
