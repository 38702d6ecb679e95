"""Every teaching notebook's exercises: each check fails on the skeleton, passes on the solution.

The notebooks (``notebooks/teach_*.py``) follow the cell-tag convention of
:mod:`mplib.teaching`; :func:`mplib.teaching.run_exercises` runs each at the smoke preset.
"""

from __future__ import annotations

import pytest

from mplib.repro import repo_root
from mplib.teaching import run_exercises

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("teach_*.py"))


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=lambda p: p.stem)
def run(request, tmp_path_factory):
    return request.param, run_exercises(request.param, preset="smoke",
                                        figures=tmp_path_factory.mktemp(request.param.stem))


def test_there_are_teaching_notebooks():
    assert NOTEBOOKS


def test_two_to_four_exercises(run):
    nb, out = run
    assert 2 <= len(out.solution) <= 4, f"{nb.name}: {len(out.solution)} exercises"
    assert out.n_exercises >= 1
    assert set(out.skeleton) == set(out.solution), "the same checks must run in both passes"


def test_every_check_passes_with_the_solution(run):
    nb, out = run
    failed = {k: r.reason for k, r in out.solution.items() if not r.passed}
    assert not failed, f"{nb.name}: solutions fail their checks: {failed}"


def test_every_check_fails_on_the_skeleton(run):
    nb, out = run
    passed = [k for k, r in out.skeleton.items() if r.passed]
    assert not passed, f"{nb.name}: checks that pass on the untouched skeleton: {passed}"
