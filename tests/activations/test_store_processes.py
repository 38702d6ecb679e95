"""The store across real processes: a SIGKILLed extraction resumes byte for byte, and two
torchrun ranks write the same store as one process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mplib.activations import extract_activations

from .store_child import STORE_KW, docs, tiny_lm

CHILD = Path(__file__).with_name("store_child.py")
REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore",
           PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))

pytestmark = pytest.mark.slow


def _files(store):
    names = sorted(p.name for p in store.path.iterdir() if not p.name.startswith("."))
    return {n: (store.path / n).read_bytes() for n in names}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted single-process store."""
    return extract_activations(tiny_lm(), docs(), root=tmp_path_factory.mktemp("ref"),
                               **STORE_KW)


def test_sigkill_mid_extraction_then_resume_is_byte_identical(reference, tmp_path):
    proc = subprocess.Popen([sys.executable, str(CHILD), str(tmp_path), "kill"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # printed once the first shard is on disk
        assert line.strip() == "in-second-shard", "the child died before its second shard"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.stdout.close()
    folder = tmp_path / reference.path.name
    assert not (folder / ".done").exists()
    assert (folder / "shard-00000.npy").exists() and not (folder / "shard-00001.npy").exists()
    before = (folder / "shard-00000.npy").stat().st_mtime_ns
    resumed = extract_activations(tiny_lm(), docs(), root=tmp_path, **STORE_KW)
    assert (folder / "shard-00000.npy").stat().st_mtime_ns == before  # reused, not redone
    assert _files(resumed) == _files(reference)
    assert not list(folder.glob(".*.tmp"))  # no temporary file left behind


def test_two_torchrun_ranks_write_the_single_process_store(reference, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", str(CHILD), str(tmp_path), "plain"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = tmp_path / reference.path.name
    assert (folder / ".done").exists() and not list(folder.glob("manifest-rank*.json"))
    got = {n: (folder / n).read_bytes() for n in sorted(_files(reference))}
    assert got == _files(reference)
    assert len(reference.manifest["shards"]) >= 4  # both ranks had shards to write
