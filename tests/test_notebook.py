"""Notebook parameters and preset checks (mplib.notebook) and the command line (mplib.cli)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mplib import cli, notebook
from mplib.repro import repo_root

NOTEBOOK = '''# %% [markdown]
# # Figure 0 — test

# %% tags=["parameters"]
preset: str = "quick"  # comment
n_steps: int = 10
cosines: list = [0.0, 0.3]

# %%
x = n_steps * 2
'''


def test_declared_parameters_and_check(tmp_path):
    nb = tmp_path / "fig00_test.py"
    nb.write_text(NOTEBOOK)
    expected = {"preset": "quick", "n_steps": 10, "cosines": [0.0, 0.3]}
    assert notebook.declared_parameters(nb) == expected
    good = tmp_path / "good.yaml"
    good.write_text("n_steps: 5\n")
    notebook.check_params(nb, [good])
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_steps: 5\nn_stpes: 3\n")
    with pytest.raises(ValueError, match="'n_stpes'"):
        notebook.check_params(nb, [bad])


def test_parameters_cell_must_hold_literals(tmp_path):
    nb = tmp_path / "fig00_test.py"
    nb.write_text(NOTEBOOK.replace("n_steps: int = 10", "n_steps: int = 5 * 2"))
    with pytest.raises(ValueError, match="n_steps"):
        notebook.declared_parameters(nb)
    nb.write_text(NOTEBOOK.replace('# %% tags=["parameters"]', "# %%"))
    with pytest.raises(ValueError, match="exactly one cell"):
        notebook.declared_parameters(nb)


def test_cli_exit_codes(tmp_path, capsys):
    nb = tmp_path / "fig00_test.py"
    nb.write_text(NOTEBOOK)
    bad = tmp_path / "bad.yaml"
    bad.write_text("bogus: 1\n")
    assert cli.main(["check-params", str(nb), str(bad)]) == 2
    assert "bogus" in capsys.readouterr().err
    assert cli.main(["check-params", str(nb)]) == 0



def test_cli_unknown_command_prints_usage(capsys):
    assert cli.main(["no-such-command"]) == 2
    assert "check-params" in capsys.readouterr().err


def test_python_dash_m_mplib_runs_the_cli(tmp_path):
    nb = tmp_path / "fig00_test.py"
    nb.write_text(NOTEBOOK)
    bad = tmp_path / "bad.yaml"
    bad.write_text("bogus: 1\n")
    out = subprocess.run([sys.executable, "-m", "mplib", "check-params", str(nb), str(bad)],
                         capture_output=True, text=True, cwd=repo_root(), timeout=120)
    assert out.returncode == 2 and "bogus" in out.stderr
