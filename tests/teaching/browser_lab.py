"""Open JupyterLab in headless Chromium, run every cell of one notebook, save a screenshot.

Run by ``make test-browser`` (not part of ``make test``): it needs Debian's ``chromium`` and
``chromium-driver`` and the ``browser`` extra (selenium). Starts ``jupyter lab`` from .venv on
127.0.0.1 (free port, random token, the app object exposed to the page), opens
``notebooks/<stem>.py`` (jupytext opens it as a notebook), runs JupyterLab's "run all cells"
command, waits for the kernel, scrolls to the first figure and writes the screenshot
(default ``figures/lab_screenshot.png``). The notebook is never saved. Exit status 1 when a
cell fails or nothing ran.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

KERNEL = """const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
return k ? k.status : null"""
RUN_ALL = """const done = arguments[arguments.length - 1];
window.jupyterapp.commands.execute('notebook:run-all-cells')
  .then(r => done(String(r))).catch(e => done('error: ' + e));"""
EXECUTED = """const w = window.jupyterapp.shell.currentWidget;
const code = w.content.widgets.filter(c => c.model.type === 'code');
return w.sessionContext.session.kernel.status === 'idle'
  && code.every(c => c.model.executionCount !== null)"""
LAST_FIGURE = """const nb = window.jupyterapp.shell.currentWidget.content;
let last = -1;
nb.widgets.forEach((cell, i) => {
  if (cell.model.type !== 'code') return;
  for (let j = 0; j < cell.model.outputs.length; j++)
    if (cell.model.outputs.get(j).data['image/png']) last = i;
});
if (last >= 0) { nb.activeCellIndex = last; nb.scrollToItem(last, 'start'); }
return last"""
SUMMARY = """const nb = document.querySelector('.jp-Notebook');
return nb === null ? null : {
  cells: nb.querySelectorAll('.jp-Cell').length,
  images: nb.querySelectorAll('.jp-OutputArea-output img').length,
  widgets: nb.querySelectorAll('.jupyter-widgets, .widget-slider').length,
  errors: nb.querySelectorAll('[data-mime-type="application/vnd.jupyter.error"]').length,
  title: document.title}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stem", default="teach_01_sparse_coding")
    ap.add_argument("--out", default=str(ROOT / "figures" / "lab_screenshot.png"))
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    port, token = free_port(), secrets.token_hex(16)
    log = open(ROOT / "figures" / ".lab_browser.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [str(Path(sys.prefix) / "bin" / "jupyter-lab"), "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
         "--LabApp.expose_app_in_browser=True"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=dict(os.environ, MPLBACKEND=""),
    )
    opts = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1050"):
        opts.add_argument(flag)
    opts.binary_location = "/usr/bin/chromium"
    driver = None
    try:
        base = f"http://127.0.0.1:{port}"
        import requests

        def up():
            try:
                return requests.get(f"{base}/api/status", params={"token": token}, timeout=2).ok
            except requests.RequestException:
                return False

        wait(up, 120, "the server")
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        driver.get(f"{base}/lab/tree/notebooks/{args.stem}.py?token={token}")
        wait(lambda: driver.execute_script(SUMMARY), 120, "the notebook view")
        wait(lambda: driver.execute_script(KERNEL) == "idle", 120, "an idle kernel")
        start = time.monotonic()
        driver.set_script_timeout(args.timeout)
        outcome = driver.execute_async_script(RUN_ALL)
        wait(lambda: driver.execute_script(EXECUTED), args.timeout, "every cell's result")
        seconds = time.monotonic() - start
        time.sleep(2)  # let the last outputs render
        driver.execute_script(LAST_FIGURE)  # JupyterLab renders only the cells in view
        time.sleep(3)
        summary = driver.execute_script(SUMMARY)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(args.out)
        print(f"{args.stem}: run-all returned {outcome!r}; all cells ran in JupyterLab in "
              f"{seconds:.0f} s; {summary}; "
              f"screenshot {args.out}")
        return 0 if summary["errors"] == 0 and summary["images"] > 0 else 1
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
