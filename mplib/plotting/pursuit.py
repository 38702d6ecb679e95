"""Panels for pursuit algorithms: 2-D step-by-step pictures, residual decay, throughput bars.

Arrays in, axes out; nothing here runs a solver (the caller passes residuals and choices).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["pursuit_steps", "residual_decay", "throughput_bars"]


def pursuit_steps(
    ax: Any,
    atoms: np.ndarray,
    residuals: np.ndarray,
    selected: Sequence[int],
    *,
    title: str | None = None,
    cmap: str = "viridis",
) -> Any:
    """Draw a 2-D pursuit step by step: the atoms, the signal and the residual after each step.

    Atoms are grey arrows from the origin (``±`` both ways, as a pursuit uses either sign);
    the atom chosen at step k is redrawn in step k's colour, and the residual ``r_k`` is a dot
    of the same colour, joined to ``r_{k-1}`` by an arrow (``r_0`` is the signal, in black).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    atoms : ndarray of shape (n_atoms, 2)
        Dictionary, one atom per row.
    residuals : ndarray of shape (n_steps + 1, 2)
        ``r_0 = x``, then the residual after each step.
    selected : sequence of int, length n_steps
        Atom chosen at each step.
    title : str, optional
    cmap : str, default="viridis"
        Colours of the steps.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib as mpl

    atoms = np.asarray(atoms, dtype=float)
    residuals = np.asarray(residuals, dtype=float)
    selected = [int(j) for j in selected]
    if atoms.ndim != 2 or atoms.shape[1] != 2:
        raise ValueError(f"atoms must have shape (n_atoms, 2), got {atoms.shape}")
    if residuals.ndim != 2 or residuals.shape[1] != 2 or len(residuals) != len(selected) + 1:
        raise ValueError(
            f"residuals must have shape (len(selected) + 1, 2) = ({len(selected) + 1}, 2), "
            f"got {residuals.shape}"
        )
    if any(not 0 <= j < len(atoms) for j in selected):
        raise ValueError(f"selected atoms must lie in [0, {len(atoms)}), got {selected}")
    scale = max(np.abs(residuals).max(), 1e-12) * 1.15
    unit = atoms / np.maximum(np.linalg.norm(atoms, axis=1, keepdims=True), 1e-300)
    colors = mpl.colormaps[cmap](np.linspace(0.15, 0.85, max(len(selected), 1)))
    for i, a in enumerate(unit):
        ax.plot([-a[0] * scale, a[0] * scale], [-a[1] * scale, a[1] * scale], color="0.85",
                lw=0.8, zorder=0)  # fmt: skip
        ax.annotate(f"$d_{{{i + 1}}}$", a * scale, color="0.45", fontsize=7, ha="center",
                    va="center")  # fmt: skip
    for k, j in enumerate(selected):
        a = unit[j] * scale * 0.92
        ax.plot([-a[0], a[0]], [-a[1], a[1]], color=colors[k], lw=1.6, alpha=0.7, zorder=1)
    ax.scatter(*residuals[0], color="black", s=18, zorder=3, label="signal $x$")
    for k in range(len(selected)):
        ax.annotate("", residuals[k + 1], residuals[k],
                    arrowprops={"arrowstyle": "->", "color": colors[k], "lw": 1.2})  # fmt: skip
        ax.scatter(*residuals[k + 1], color=colors[k], s=16, zorder=3,
                   label=f"$r_{k + 1}$ (atom {selected[k] + 1})")  # fmt: skip
    ax.scatter([0], [0], marker="+", color="0.3", s=30, zorder=2)
    ax.set_xlim(-scale, scale)
    ax.set_ylim(-scale, scale)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def residual_decay(
    ax: Any,
    curves: Mapping[str, np.ndarray],
    *,
    bands: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    log: bool = True,
    ylabel: str = r"$\|r_k\|^2 / \|x\|^2$",
    title: str | None = None,
) -> Any:
    """Plot one residual curve per algorithm against the step number ``k = 0, 1, …``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    curves : mapping of str to ndarray of shape (n_steps + 1,)
        A value per step (e.g. the mean relative residual energy), starting at step 0.
    bands : mapping of str to (ndarray, ndarray), optional
        Lower and upper envelopes (e.g. quartiles) drawn as shaded bands.
    log : bool, default=True
        Logarithmic y axis.
    ylabel : str
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    for name, values in curves.items():
        values = np.asarray(values, dtype=float)
        if values.ndim != 1:
            raise ValueError(f"curve {name!r} must be 1-D, got shape {values.shape}")
        (line,) = ax.plot(np.arange(len(values)), values, label=name)
        if bands and name in bands:
            lo, hi = (np.asarray(b, dtype=float) for b in bands[name])
            ax.fill_between(np.arange(len(lo)), lo, hi, color=line.get_color(), alpha=0.15, lw=0)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step $k$")
    ax.set_ylabel(ylabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def throughput_bars(
    ax: Any,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    reference: int | None = None,
    xlabel: str = "signals / s",
    title: str | None = None,
) -> Any:
    """Horizontal bars of throughputs on a log axis, each annotated with its ratio to one bar.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    labels : sequence of str
    values : sequence of float
        Throughputs (positive).
    reference : int, optional
        Index of the bar the ratios refer to (no ratios when None).
    xlabel : str
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    values = np.asarray(values, dtype=float)
    if len(labels) != len(values) or (values <= 0).any():
        raise ValueError("need one positive value per label")
    y = np.arange(len(values))[::-1]
    colors = ["0.6" if i == reference else f"C{i % 8}" for i in range(len(values))]
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, labels)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    for yi, v in zip(y, values):
        text = f"{v:,.0f}" if reference is None else f"{v:,.0f}  ({v / values[reference]:.1f}×)"
        ax.annotate(text, (v, yi), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=7)  # fmt: skip
    ax.set_xlim(values.min() / 2, values.max() * 8)
    if title:
        ax.set_title(title)
    return ax
