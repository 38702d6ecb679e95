"""Importing the solvers stays light: scikit-learn loads only with the estimator."""

from __future__ import annotations

import subprocess
import sys


def _loaded_after(statement: str) -> bool:
    code = f"import sys; {statement}; print(any(m.startswith('sklearn') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def test_import_pursuit_does_not_import_sklearn():
    assert not _loaded_after("import mplib.pursuit; mplib.pursuit.sparse_encode")
    assert _loaded_after("from mplib.pursuit import PursuitCoder")  # the check can fail
