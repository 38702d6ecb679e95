"""mplib.teaching: checks, the exercise runner on a tiny notebook, traces and drawings."""

from __future__ import annotations

import numpy as np
import pytest

from mplib import teaching
from mplib.pursuit.reference import matching_pursuit

TINY = '''# %% [markdown]
# # Tiny

# %% tags=["parameters"]
preset: str = "quick"  # preset
solutions: bool = False  # show the solutions
n: int = 3  # size

# %%
base = list(range(n))

# %% tags=["exercise-skeleton"]
def total(xs):
    raise NotImplementedError("your code here")

# %% tags=["exercise-solution"]
if solutions:
    def total(xs):
        return sum(xs)

# %% tags=["exercise-check"]
check("total", lambda: total(base), n * (n - 1) / 2)

# %% tags=["exercise-skeleton"]
answer = None

# %% tags=["exercise-solution"]
if solutions:
    answer = {0, 1}

# %% tags=["exercise-check"]
check("answer", answer, {0, 1})
'''


def test_check_numbers_arrays_sets_and_thunks(capsys):
    assert teaching.check("a", np.ones(3), [1, 1, 1])
    assert not teaching.check("b", np.ones(2), [1, 1, 1])
    assert "shape" in teaching.results()["b"].reason
    assert not teaching.check("c", 1.1, 1.0)
    assert teaching.check("d", [2, 0], {0, 2})
    assert not teaching.check("e", lambda: 1 / 0, 1)
    assert "ZeroDivisionError" in teaching.results()["e"].reason
    assert not teaching.check("f", None, 1.0, hint="look up")
    out = capsys.readouterr().out
    assert "a: pass" in out and "f: not yet" in out and "hint: look up" in out


def test_exercise_reasons():
    ex = teaching.Exercise("pos", lambda v: None if v > 0 else "not positive")
    assert ex(1) and not ex(-1) and not ex(None)
    assert teaching.results()["pos"].reason == "no answer yet (the skeleton still gives None)"
    assert not teaching.Exercise("boom", lambda v: v.nope)(1)
    with pytest.raises(ValueError, match="name"):
        teaching.Exercise("", bool)


def test_runner_on_a_tiny_notebook(tmp_path):
    nb = tmp_path / "teach_99_tiny.py"
    nb.write_text(TINY.replace("# %% [markdown]", "# %%\nfrom mplib.teaching import check\n\n"
                                                   "# %% [markdown]", 1))
    out = teaching.run_exercises(nb, parameters={"n": 5})
    assert out.n_exercises == 2
    assert {k: r.passed for k, r in out.skeleton.items()} == {"total": False, "answer": False}
    assert {k: r.passed for k, r in out.solution.items()} == {"total": True, "answer": True}


def test_trace_matches_the_reference_mp(rng):
    D = rng.standard_normal((5, 3))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    x = rng.standard_normal(3)
    tr = teaching.pursuit_trace(x, D, algorithm="mp", n_steps=4)
    ref = matching_pursuit(x, D, 4)
    np.testing.assert_allclose(tr.codes[-1], ref.codes, atol=1e-10)
    np.testing.assert_allclose(tr.residuals[-1], ref.residual, atol=1e-10)
    assert tr.residuals.shape == (5, 3) and tr.selected.shape == (4,)
    # each MP step removes the projection on the chosen atom: new residual ⟂ that atom
    for k, j in enumerate(tr.selected):
        assert abs(tr.residuals[k + 1] @ D[j]) < 1e-10


@pytest.mark.parametrize("d", [2, 3])
def test_draw_steps(rng, d):
    import matplotlib.pyplot as plt

    D = rng.standard_normal((4, d))
    tr = teaching.pursuit_trace(rng.standard_normal(d), D, n_steps=3)
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d" if d == 3 else None)
    assert teaching.draw_steps(ax, D, tr, title="t") is ax
    plt.close(fig)
    with pytest.raises(ValueError, match="atoms"):
        teaching.draw_steps_3d(ax, D[:, :2], tr.residuals, tr.selected)


def test_explore_calls_once_outside_jupyter():
    calls = []
    out = teaching.explore(lambda k, name: calls.append((k, name)) or k,
                           k=teaching.Slider(3, 1, 8), name=teaching.Choice("mp", ("mp", "omp")))
    assert out == 3 and calls == [(3, "mp")]
    with pytest.raises(ValueError, match="value"):
        teaching.Slider(9, 1, 8)


def test_mp_trace_runs_past_n_atoms(rng):
    D = rng.standard_normal((3, 2))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    x = rng.standard_normal(2)
    tr = teaching.pursuit_trace(x, D, algorithm="mp", n_steps=7)
    ref = matching_pursuit(x, D, 7)
    np.testing.assert_allclose(tr.codes[-1], ref.codes, atol=1e-10)
    assert len(set(tr.selected.tolist())) <= 3 < 7
