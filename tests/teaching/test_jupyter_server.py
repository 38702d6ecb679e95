"""A real Jupyter server from .venv: jupytext .py files over the REST API, a kernel over websocket.

Starts ``jupyter server`` on 127.0.0.1 (random free port, random token), asks the contents API
for a teaching notebook's ``.py`` file, checks it comes back as a notebook (cells, the
``parameters`` tag: jupytext's contents manager is active), starts a kernel through the API
and runs the notebook's first code cells through the kernel's websocket channels, then stops
the kernel and the server.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mplib.repro import repo_root

requests = pytest.importorskip("requests")
websocket = pytest.importorskip("websocket")

ROOT = repo_root()
STEM = "teach_01_sparse_coding"
N_CELLS = 2  # the parameters cell and the set-up cell (imports, show_versions)
TIMEOUT = 120  # seconds for each wait (a loaded machine starts kernels slowly)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_command() -> list[str]:
    exe = Path(sys.prefix) / "bin" / "jupyter-server"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "jupyter_server"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (ROOT / "notebooks" / f"{STEM}.py").exists():
        pytest.skip(f"no notebooks/{STEM}.py")
    port, token = _free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("jupyter_runtime")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime), PYTHONWARNINGS="ignore",
               MPLBACKEND="Agg")
    log = (runtime / "server.log").open("w")
    proc = subprocess.Popen(
        [*_server_command(), "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail("jupyter server exited:\n" + (runtime / "server.log").read_text())
            try:
                if session.get(f"{base}/api/status", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("no answer:\n" + (runtime / "server.log").read_text())
            time.sleep(0.25)
        yield base, token, session
    finally:
        for kernel in _get(session, f"{base}/api/kernels") or []:
            try:
                session.delete(f"{base}/api/kernels/{kernel['id']}", timeout=10)
            except requests.RequestException:
                pass
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(runtime, ignore_errors=True)


def _get(session, url):
    try:
        r = session.get(url, timeout=10)
        return r.json() if r.ok else None
    except requests.RequestException:
        return None


def _notebook(server):
    base, _, session = server
    r = session.get(f"{base}/api/contents/notebooks/{STEM}.py",
                    params={"type": "notebook", "content": 1}, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def test_contents_api_serves_the_py_file_as_a_notebook(server):
    model = _notebook(server)
    assert model["type"] == "notebook" and model["format"] == "json"
    cells = model["content"]["cells"]
    assert len(cells) > 5
    assert cells[0]["cell_type"] == "markdown"
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1 and "preset" in tagged[0]["source"]
    assert not (ROOT / "notebooks" / f"{STEM}.ipynb").exists()


def _execute(ws, code):
    """Send one execute_request on the shell channel; return (status, stdout text)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }))
    out, status, idle = [], None, False
    deadline = time.monotonic() + TIMEOUT
    while not (status and idle):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no execute_reply within {TIMEOUT} s")
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["header"]["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        elif kind == "error":
            out.append("\n".join(msg["content"]["traceback"]))
        elif kind == "execute_reply":
            status = msg["content"]["status"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
    return status, "".join(out)


def test_kernel_runs_the_first_cells(server):
    base, token, session = server
    code = [c["source"] for c in _notebook(server)["content"]["cells"]
            if c["cell_type"] == "code"][:N_CELLS]
    kernelspec = "mplib" if _get(session, f"{base}/api/kernelspecs")["kernelspecs"].get(
        "mplib") else "python3"
    r = session.post(f"{base}/api/kernels", json={"name": kernelspec}, timeout=TIMEOUT)
    assert r.status_code == 201, r.text
    kernel = r.json()["id"]
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{base.rsplit(':', 1)[1]}/api/kernels/{kernel}/channels?token={token}",
        timeout=TIMEOUT)
    try:
        for source in code:
            status, out = _execute(ws, source)
            assert status == "ok", out
        status, out = _execute(ws, "print(preset, solutions, STEM)")
        assert status == "ok", out
        assert out.split() == ["quick", "False", STEM]
    finally:
        ws.close()
        session.delete(f"{base}/api/kernels/{kernel}", timeout=10)
