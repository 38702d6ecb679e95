"""Teaching support: exercise checks, a runner for notebook exercises, and drawing helpers.

The course notebooks (``notebooks/teach_NN_slug.py``) end with a few exercises. Each exercise is
three jupytext percent cells, tagged in their ``# %%`` header:

``exercise-skeleton``
    What the student edits: a stub that defines the answer's name but does not solve it
    (``def mp_step(r, D): ...`` returning ``None``, or ``answer = None``), with the task in
    the cell's comments.
``exercise-solution``
    The solution, guarded by the notebook's ``solutions: bool`` parameter (default
    ``False``)::

        # %% tags=["exercise-solution"]
        if solutions:
            def mp_step(r, D):
                ...

``exercise-check``
    One or more calls of :func:`check` (or an :class:`Exercise`), each naming the exercise.
    A check prints ``pass`` or ``not yet: <why>`` and returns a bool; it never raises, so the
    notebook runs top to bottom under papermill with the untouched skeleton.

Put the three cells in that order (skeleton, solution, check), all exercises after every other
code cell (no non-exercise cell may depend on them), and keep exercise cells from changing
objects defined above them in place (the runner shares them between its two passes).
Markdown cells in between are free. A check given a callable calls it and reports an
exception as ``not yet`` (so ``check("mp_step", lambda: mp_step(r, D), expected)`` works on a
stub that raises ``NotImplementedError``).

:func:`run_exercises` executes a notebook in this process: every non-exercise code cell once
(parameters from ``params/<preset>/<stem>.yaml`` applied after the ``parameters`` cell), then
the exercise cells once with ``solutions = False`` and once with ``solutions = True``. The test
``tests/teaching/test_exercises.py`` requires every check to fail in the first pass and pass
in the second: an exercise whose check cannot fail is a defect.

Where a parameter invites play, :func:`explore` shows ``ipywidgets`` controls in JupyterLab
and calls the function once with the defaults everywhere else (papermill under ``make``, this
runner, plain ``python``).

Drawing helpers: :func:`pursuit_trace` runs a pursuit from :mod:`mplib.pursuit` and records the
residual and the chosen atom at each step; :func:`draw_steps` draws them in 2-D (with
:func:`mplib.plotting.pursuit_steps`) or 3-D (:func:`draw_steps_3d`).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "CheckResult",
    "Choice",
    "Exercise",
    "ExerciseRun",
    "Slider",
    "Trace",
    "check",
    "draw_steps",
    "draw_steps_3d",
    "explore",
    "pursuit_trace",
    "results",
    "run_exercises",
]

TAGS = ("exercise-skeleton", "exercise-solution", "exercise-check")
"""Cell tags of the three cells of an exercise."""


class CheckResult(NamedTuple):
    """Outcome of one check."""

    name: str
    """The exercise's name."""
    passed: bool
    """Whether the answer is right."""
    reason: str
    """Why not (empty when it passed)."""


_RESULTS: dict[str, CheckResult] = {}


def results() -> dict[str, CheckResult]:
    """Return the last outcome of every check run in this process, by exercise name."""
    return dict(_RESULTS)


def _report(name: str, reason: str | None, hint: str | None) -> bool:
    passed = not reason
    _RESULTS[name] = CheckResult(name, passed, reason or "")
    if passed:
        print(f"{name}: pass")
    else:
        print(f"{name}: not yet: {reason}" + (f"\n  hint: {hint}" if hint else ""))
    return passed


def _evaluate(value: Any) -> tuple[Any, str | None]:
    """Call a thunk; an exception becomes a reason."""
    if callable(value):
        try:
            return value(), None
        except Exception as err:  # noqa: BLE001 - a student's code may raise anything
            return None, f"your code raised {type(err).__name__}: {err}"
    return value, None


def _compare(value: Any, expected: Any, atol: float, rtol: float) -> str | None:
    if value is None or value is Ellipsis:
        return "no answer yet (the skeleton still gives None)"
    if isinstance(expected, (str, bool)) or expected is None:
        return None if value == expected else f"got {value!r}, expected {expected!r}"
    if isinstance(expected, (set, frozenset)):
        got = set(np.asarray(list(value)).tolist()) if not isinstance(value, set) else value
        return None if got == expected else f"got {sorted(got)}, expected {sorted(expected)}"
    try:
        got = np.asarray(value, dtype=float)
        want = np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return None if value == expected else f"got {value!r}, expected {expected!r}"
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if not np.isfinite(got).all():
        return "the answer holds NaN or infinite entries"
    if np.allclose(got, want, atol=atol, rtol=rtol):
        return None
    diff = float(np.abs(got - want).max())
    if got.ndim == 0:
        return f"got {float(got):.6g}, expected {float(want):.6g}"
    return f"largest difference {diff:.3g} (tolerance atol={atol:g}, rtol={rtol:g})"


def check(
    name: str,
    value: Any,
    expected: Any,
    *,
    atol: float = 1e-8,
    rtol: float = 1e-6,
    hint: str | None = None,
) -> bool:
    """Compare a student's answer with the expected one; print ``pass`` or ``not yet: <why>``.

    Parameters
    ----------
    name : str
        The exercise's name (the key of :func:`results`).
    value : object or callable
        The answer, or a function of no arguments computing it (its exceptions are reported).
    expected : object
        Numbers and arrays compare with ``numpy.allclose`` (shape first); strings, booleans and
        None by equality; a set compares with the set of the answer's items.
    atol, rtol : float
        Tolerances for numbers.
    hint : str, optional
        Printed under a failure.

    Returns
    -------
    bool
        Whether it passed.

    Examples
    --------
    >>> check("two", 1 + 1, 2)
    two: pass
    True
    >>> check("three", None, 3)
    three: not yet: no answer yet (the skeleton still gives None)
    False
    """
    got, reason = _evaluate(value)
    if reason is None:
        reason = _compare(got, expected, atol, rtol)
    return _report(name, reason, hint)


@dataclass(frozen=True)
class Exercise:
    """An exercise with its own check: ``Exercise(name, check_fn, hint)(answer) -> bool``.

    ``check_fn(answer)`` returns None, ``""`` or True when the answer is right, and a reason
    (str) or False otherwise; an exception inside it is reported as ``not yet``.

    Examples
    --------
    >>> even = Exercise("even", lambda n: None if n % 2 == 0 else f"{n} is odd", "try 2")
    >>> even(3)
    even: not yet: 3 is odd
      hint: try 2
    False
    """

    name: str
    """Key of :func:`results`."""
    check_fn: Callable[[Any], Any]
    """Returns None/""/True for right, a reason or False for wrong."""
    hint: str | None = None
    """Printed under a failure."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if not callable(self.check_fn):
            raise TypeError(f"check_fn must be callable, got {type(self.check_fn).__name__}")

    def __call__(self, value: Any) -> bool:
        """Check ``value`` (or the result of calling it); print and return the outcome."""
        got, reason = _evaluate(value)
        if reason is None:
            if got is None or got is Ellipsis:
                reason = "no answer yet (the skeleton still gives None)"
            else:
                try:
                    out = self.check_fn(got)
                except Exception as err:  # noqa: BLE001
                    out = f"checking it raised {type(err).__name__}: {err}"
                reason = "the check failed" if out is False else (None if out is True else out)
        return _report(self.name, reason, self.hint)


# ---------------------------------------------------------------------------------------------
# running a notebook's exercises


class ExerciseRun(NamedTuple):
    """Outcome of :func:`run_exercises`."""

    skeleton: dict[str, CheckResult]
    """Each check's outcome with ``solutions = False`` (the untouched skeleton)."""
    solution: dict[str, CheckResult]
    """Each check's outcome with ``solutions = True``."""
    n_exercises: int
    """Number of cells tagged ``exercise-check``."""


def _cells(notebook: Path) -> list[tuple[str, list[str]]]:
    import jupytext

    nb = jupytext.read(notebook)
    return [(c.source, list(c.metadata.get("tags", []))) for c in nb.cells
            if c.cell_type == "code"]  # fmt: skip


@contextlib.contextmanager
def _environment(figures: Path | None):
    old = os.environ.get("MPLIB_FIGURES")
    if figures is not None:
        os.environ["MPLIB_FIGURES"] = str(figures)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # as the build does (PYTHONWARNINGS=ignore)
            yield
    finally:
        if old is None:
            os.environ.pop("MPLIB_FIGURES", None)
        else:
            os.environ["MPLIB_FIGURES"] = old


def run_exercises(
    notebook: str | os.PathLike,
    *,
    preset: str = "smoke",
    parameters: Mapping[str, Any] | None = None,
    figures: str | os.PathLike | None = None,
) -> ExerciseRun:
    """Execute a teaching notebook in this process and collect its exercise checks.

    Parameters
    ----------
    notebook : path
        A jupytext percent ``.py`` notebook following the convention of this module.
    preset : str, default="smoke"
        ``params/<preset>/<stem>.yaml`` (when present) overrides the parameters cell, and
        ``preset`` is set to this name.
    parameters : mapping, optional
        Further overrides, applied last.
    figures : path, optional
        Where the notebook's ``save_figure`` writes (sets ``$MPLIB_FIGURES`` meanwhile);
        default: the scratch folder, as in an interactive run.

    Returns
    -------
    ExerciseRun
    """
    import matplotlib
    import yaml

    from mplib.repro import repo_root

    path = Path(notebook)
    cells = _cells(path)
    if not any("parameters" in tags for _, tags in cells):
        raise ValueError(f"{path}: no cell tagged 'parameters'")
    overrides: dict[str, Any] = {"preset": preset}
    yaml_path = repo_root() / "params" / preset / f"{path.stem}.yaml"
    if yaml_path.exists():
        overrides.update(yaml.safe_load(yaml_path.read_text()) or {})
    overrides.update(parameters or {})
    matplotlib.use("Agg")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exercise_cells = [(i, s) for i, (s, t) in enumerate(cells) if set(t) & set(TAGS)]
    n_checks = sum("exercise-check" in t for _, t in cells)
    with _environment(None if figures is None else Path(figures)):
        for i, (source, tags) in enumerate(cells):
            if set(tags) & set(TAGS):
                continue
            exec(compile(source, f"{path.name}[cell {i}]", "exec"), namespace)  # noqa: S102
            if "parameters" in tags:
                namespace.update(overrides)
        runs = {}
        for solutions in (False, True):
            ns = dict(namespace, solutions=solutions)
            _RESULTS.clear()
            for i, source in exercise_cells:
                exec(compile(source, f"{path.name}[cell {i}]", "exec"), ns)  # noqa: S102
            runs[solutions] = results()
    import matplotlib.pyplot as plt

    plt.close("all")
    return ExerciseRun(runs[False], runs[True], n_checks)


# ---------------------------------------------------------------------------------------------
# widgets that fall back to one static call


@dataclass(frozen=True)
class Slider:
    """A numeric control for :func:`explore`: its default ``value`` and range."""

    value: float
    """Default (used by the static call)."""
    min: float
    """Smallest value."""
    max: float
    """Largest value."""
    step: float = 1
    """Step; an int ``value`` and ``step`` give an integer slider."""

    def __post_init__(self) -> None:
        if not self.min <= self.value <= self.max:
            raise ValueError(f"value must lie in [min, max], got {self.value} in "
                             f"[{self.min}, {self.max}]")  # fmt: skip


@dataclass(frozen=True)
class Choice:
    """A drop-down control for :func:`explore`."""

    value: Any
    """Default (used by the static call); one of ``options``."""
    options: tuple
    """The choices."""

    def __post_init__(self) -> None:
        if self.value not in self.options:
            raise ValueError(f"value must be one of options {self.options}, got {self.value!r}")


def _in_live_kernel() -> bool:
    """Whether we run in a Jupyter kernel a person drives (not papermill under make)."""
    if os.environ.get("MPLIB_FIGURES"):  # set by make and by run_exercises' callers
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def explore(fn: Callable[..., Any], **controls: Slider | Choice | Any) -> Any:
    """Call ``fn`` with controls: ``ipywidgets`` sliders in JupyterLab, one static call elsewhere.

    Parameters
    ----------
    fn : callable
        Draws or prints something from keyword arguments.
    **controls : Slider, Choice or a fixed value
        One per keyword of ``fn``.

    Returns
    -------
    object
        ``fn``'s result for the default values (static call), or the widget (JupyterLab).
    """
    defaults = {k: (c.value if isinstance(c, (Slider, Choice)) else c) for k, c in controls.items()}
    if not _in_live_kernel():
        return fn(**defaults)
    import ipywidgets as w

    def widget(name: str, c: Any) -> Any:
        if isinstance(c, Choice):
            return w.Dropdown(options=list(c.options), value=c.value, description=name)
        if isinstance(c, Slider):
            is_int = all(isinstance(v, int) for v in (c.value, c.min, c.max, c.step))
            cls = w.IntSlider if is_int else w.FloatSlider
            return cls(value=c.value, min=c.min, max=c.max, step=c.step, description=name,
                       continuous_update=False)  # fmt: skip
        return w.fixed(c)

    def call(**kwargs: Any) -> Any:  # only the controls: fn's other defaults stay as they are
        return fn(**kwargs)

    return w.interact(call, **{k: widget(k, c) for k, c in controls.items()})


# ---------------------------------------------------------------------------------------------
# drawing pursuits step by step


class Trace(NamedTuple):
    """A pursuit on one signal, step by step (from :func:`pursuit_trace`)."""

    residuals: np.ndarray
    """(n_steps + 1, d): ``r_0 = x``, then the residual after each step."""
    selected: np.ndarray
    """(n_steps,) int: the atom chosen (MP: or chosen again) at each step."""
    codes: np.ndarray
    """(n_steps, n_atoms): the code after each step."""


def pursuit_trace(x: Any, D: Any, *, algorithm: str = "mp", n_steps: int = 3) -> Trace:
    """Run ``mplib.pursuit.sparse_encode`` on one signal and record every step.

    Parameters
    ----------
    x : array of shape (d,)
    D : array of shape (n_atoms, d)
        Dictionary, one atom per row.
    algorithm : {"mp", "omp", "gp", "acgp"}, default="mp"
    n_steps : int, default=3
        Steps (MP may take more than ``n_atoms``; the others at most ``n_atoms``).

    Returns
    -------
    Trace
    """
    from mplib.pursuit import sparse_encode

    x = np.asarray(x, dtype=float).reshape(1, -1)
    D = np.asarray(D, dtype=float)
    if algorithm == "mp":
        # MP is memoryless (each step sees only the residual), so one step at a time is MP
        # itself and may run for more steps than there are atoms (sparse_encode caps it at N)
        path, code = [], np.zeros((1, len(D)))
        for _ in range(n_steps):
            code = code + sparse_encode(x - code @ D, D, algorithm="mp", n_nonzero_coefs=1).codes
            path.append(code[0])
        path = np.asarray(path).reshape(n_steps, len(D))
    else:
        path = sparse_encode(x, D, algorithm=algorithm, n_nonzero_coefs=n_steps,
                             return_path=True).path[:, 0]  # fmt: skip
    residuals = np.vstack([x, x - path @ D])
    previous = np.vstack([np.zeros((1, len(D))), path[:-1]])
    added = (path != 0) & (previous == 0)
    moved = np.abs(path - previous).argmax(1)  # MP may pick an atom again
    selected = np.where(added.any(1), added.argmax(1), moved)
    return Trace(residuals, selected.astype(int), path)


def draw_steps_3d(
    ax: Any, atoms: Any, residuals: Any, selected: Any, *, title: str | None = None,
    cmap: str = "viridis",
) -> Any:
    """Draw a 3-D pursuit: atoms as grey lines through 0, the residual path as coloured arrows.

    Parameters
    ----------
    ax : mpl_toolkits.mplot3d.Axes3D
        Made with ``projection="3d"``.
    atoms : array of shape (n_atoms, 3)
    residuals : array of shape (n_steps + 1, 3)
    selected : sequence of int, length n_steps
    title : str, optional
    cmap : str, default="viridis"

    Returns
    -------
    Axes3D
    """
    import matplotlib as mpl

    atoms = np.asarray(atoms, dtype=float)
    residuals = np.asarray(residuals, dtype=float)
    selected = [int(j) for j in selected]
    if atoms.ndim != 2 or atoms.shape[1] != 3:
        raise ValueError(f"atoms must have shape (n_atoms, 3), got {atoms.shape}")
    if residuals.shape != (len(selected) + 1, 3):
        raise ValueError(f"residuals must have shape ({len(selected) + 1}, 3), got "
                         f"{residuals.shape}")  # fmt: skip
    scale = max(np.abs(residuals).max(), 1e-12) * 1.1
    unit = atoms / np.maximum(np.linalg.norm(atoms, axis=1, keepdims=True), 1e-300)
    colors = mpl.colormaps[cmap](np.linspace(0.15, 0.85, max(len(selected), 1)))
    for i, a in enumerate(unit):
        ax.plot(*np.stack([-a, a], 1) * scale, color="0.8", lw=0.8)
        ax.text(*(a * scale), f"$d_{{{i + 1}}}$", color="0.4", fontsize=7)
    for k, j in enumerate(selected):
        ax.plot(*np.stack([-unit[j], unit[j]], 1) * scale * 0.95, color=colors[k], lw=1.5)
        start, end = residuals[k], residuals[k + 1]
        ax.quiver(*start, *(end - start), color=colors[k], arrow_length_ratio=0.12, lw=1.2)
        ax.scatter(*end, color=colors[k], s=14, label=f"$r_{k + 1}$ (atom {j + 1})")
    ax.scatter(*residuals[0], color="black", s=18, label="signal $x$")
    for set_lim in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        set_lim(-scale, scale)
    ax.set_box_aspect((1, 1, 1))
    if title:
        ax.set_title(title)
    return ax


def draw_steps(ax: Any, atoms: Any, trace: Trace, *, title: str | None = None) -> Any:
    """Draw a :class:`Trace` in 2-D (:func:`mplib.plotting.pursuit_steps`) or 3-D."""
    atoms = np.asarray(atoms, dtype=float)
    if atoms.shape[1] == 2:
        from mplib.plotting import pursuit_steps

        return pursuit_steps(ax, atoms, trace.residuals, trace.selected, title=title)
    return draw_steps_3d(ax, atoms, trace.residuals, trace.selected, title=title)
