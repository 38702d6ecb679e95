"""Reusable panels: arrays in, axes out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.patches import Rectangle

__all__ = ["gram_heatmap", "group_boxes", "median_band", "runs_grid", "tree_diagram"]


def gram_heatmap(
    ax: Any,
    matrix: np.ndarray,
    *,
    labels: Sequence[Any] | None = None,
    title: str | None = None,
    vmin: float = -1.0,
    vmax: float = 1.0,
    cmap: str = "RdBu_r",
    annotate: bool = False,
) -> Any:
    """Draw a (signed) similarity matrix on one diverging scale, ``[vmin, vmax]``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    matrix : ndarray of shape (n, m)
    labels : sequence, optional
        Tick labels for rows and columns (e.g. 1-based feature indices); every one is shown
        when ``n <= 12``, every fourth up to 24 (1, 5, 9, … : the parents of the toy tree),
        else every fifth, so that 5-pt labels never overlap in a small panel.
    title : str, optional
    vmin, vmax : float, default=-1, 1
    cmap : str, default="RdBu_r"
    annotate : bool, default=False
        Print each value (for small matrices).

    Returns
    -------
    matplotlib.image.AxesImage
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    im = ax.imshow(matrix, vmin=vmin, vmax=vmax, cmap=cmap, interpolation="nearest")
    n, m = matrix.shape
    if labels is not None:
        step = 1 if max(n, m) <= 12 else 4 if max(n, m) <= 24 else 5
        ax.set_xticks(range(0, m, step), [labels[i] for i in range(0, m, step)], fontsize=5,
                      rotation=90)
        ax.set_yticks(range(0, n, step), [labels[i] for i in range(0, n, step)], fontsize=5)
        ax.tick_params(length=1.5, pad=1)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if annotate:
        for i in range(n):
            for j in range(m):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=4)
    if title:
        ax.set_title(title)
    return im


def group_boxes(ax: Any, groups: Sequence[Sequence[int]], **style: Any) -> Any:
    """Outline diagonal blocks of a heatmap whose rows are ordered so groups are contiguous."""
    kw = {"fill": False, "lw": 0.8, "ec": "k"} | style
    for g in groups:
        lo, hi = min(g), max(g)
        if hi - lo + 1 != len(g):
            raise ValueError(f"group {list(g)} is not contiguous in the heatmap's order")
        ax.add_patch(Rectangle((lo - 0.5, lo - 0.5), len(g), len(g), **kw))
    return ax


def tree_diagram(
    ax: Any,
    parents: np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    node_probs: Sequence[float] | None = None,
    root_label: str | None = "root",
    colors: Sequence[Any] | None = None,
) -> Any:
    """Draw a concept tree given each feature's parent (-1 for top-level features).

    Leaves are spaced evenly; a parent sits above the middle of its children.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    parents : ndarray of shape (n_features,)
    labels : sequence of str, optional
        Node labels (default: 1-based indices, as in the paper).
    node_probs : sequence of float, optional
        Printed under each node (e.g. marginal firing probabilities).
    root_label : str or None, default="root"
        Label of the implicit (non-read-out) root; None hides it.
    colors : sequence, optional
        Face colour per node.

    Returns
    -------
    dict
        ``{feature: (x, y)}`` positions.
    """
    parents = np.asarray(parents)
    n = len(parents)
    labels = list(labels) if labels is not None else [str(i + 1) for i in range(n)]
    kids = {i: [j for j in range(n) if parents[j] == i] for i in [-1, *range(n)]}
    depth = np.zeros(n, dtype=int)
    for i in range(n):
        p = parents[i]
        while p >= 0:
            depth[i] += 1
            p = parents[p]
    pos: dict[int, tuple[float, float]] = {}
    cursor = [0.0]

    def place(i: int) -> float:
        if not kids[i]:
            x = cursor[0]
            cursor[0] += 1.0
        else:
            xs = [place(j) for j in kids[i]]
            x = float(np.mean(xs))
        if i >= 0:
            pos[i] = (x, -float(depth[i]))
        return x

    root_x = place(-1)
    root = (root_x, 1.0)
    for i, (x, y) in pos.items():
        px, py = pos[parents[i]] if parents[i] >= 0 else root
        if parents[i] >= 0 or root_label is not None:
            ax.plot([px, x], [py, y], color="0.6", lw=0.8, zorder=1)
    if root_label is not None:
        ax.scatter([root[0]], [root[1]], s=260, c="white", edgecolors="0.4", zorder=2)
        ax.text(*root, root_label, ha="center", va="center", fontsize=6, zorder=3)
    for i, (x, y) in pos.items():
        fc = colors[i] if colors is not None else "white"
        ax.scatter([x], [y], s=260, c=[fc], edgecolors="k", zorder=2)
        ax.text(x, y, labels[i], ha="center", va="center", fontsize=7, zorder=3)
        if node_probs is not None:
            ax.text(x, y - 0.32, f"{node_probs[i]:.2f}", ha="center", va="top", fontsize=5.5)
    ax.set_axis_off()
    ax.set_ylim(-float(depth.max()) - 0.7, 1.4)
    ax.set_xlim(-0.7, cursor[0] - 0.3)
    return pos


def median_band(
    ax: Any,
    x: Sequence[float],
    values: np.ndarray,
    *,
    label: str | None = None,
    color: Any = None,
    marker: str = "o",
    quantiles: tuple[float, float] = (0.25, 0.75),
) -> Any:
    """Plot the median over seeds with a shaded inter-quantile band (default: the IQR).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    x : sequence of float, length n_x
    values : ndarray of shape (n_x, n_seeds)
        One row per x; NaN entries are ignored.
    label, color, marker : optional
        Line style.
    quantiles : (float, float), default=(0.25, 0.75)

    Returns
    -------
    matplotlib.lines.Line2D
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[0] != len(x):
        raise ValueError(f"values must have shape (len(x)={len(x)}, n_seeds), got {values.shape}")
    med = np.nanmedian(values, axis=1)
    lo, hi = np.nanquantile(values, quantiles, axis=1)
    (line,) = ax.plot(x, med, marker=marker, ms=3, label=label, color=color)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    return line


def runs_grid(
    panels: Mapping[str, Sequence[Mapping[str, np.ndarray]]],
    *,
    truth_gram: np.ndarray | None = None,
    truth_codes: np.ndarray | None = None,
    title: str | None = None,
    cell: float = 0.55,
) -> Any:
    """One row per model, one group of three panels per run: ``D̂D̂ᵀ``, ``FD̂ᵀ``, codes.

    The layout of the MP-SAE paper's Figs. 12–16. A first row shows the ground truth
    (``F Fᵀ`` and the reference codes) when given.

    Parameters
    ----------
    panels : mapping of str to sequence of mappings
        Row label → one mapping per run with arrays ``"gram"`` (n, n), ``"alignment"`` (n, n)
        and ``"codes"`` (n_samples, n) (aligned to the features).
    truth_gram : ndarray of shape (n, n), optional
    truth_codes : ndarray of shape (n_samples, n), optional
    title : str, optional
    cell : float, default=0.55
        Size of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    rows = list(panels)
    n_runs = max(len(v) for v in panels.values())
    lead = int(truth_gram is not None or truth_codes is not None)
    n_rows, n_cols = lead + len(rows), 3 * n_runs
    fig, axes = plt.subplots(n_rows, n_cols, squeeze=False,
                             figsize=(cell * n_cols + 0.8, cell * 1.3 * n_rows + 0.6),
                             gridspec_kw={"hspace": 0.45})
    cmax = max(float(np.max(np.abs(r["codes"]))) for v in panels.values() for r in v)
    if truth_codes is not None:
        cmax = max(cmax, float(np.max(np.abs(truth_codes))))
    for ax in axes.flat:
        ax.set_axis_off()

    def show(ax, kind, value, name=None):
        ax.set_axis_on()
        if kind == "codes":
            ax.imshow(value, aspect="auto", cmap="RdBu_r", vmin=-cmax, vmax=cmax,
                      interpolation="nearest")
        else:
            gram_heatmap(ax, value)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if name:
            ax.set_title(name, fontsize=6)

    if lead:
        if truth_gram is not None:
            show(axes[0, 0], "gram", truth_gram, "truth $FF^T$")
        if truth_codes is not None:
            show(axes[0, 2], "codes", truth_codes, "true codes")
        axes[0, 0].set_ylabel("truth", fontsize=7)
    for i, row in enumerate(rows):
        for r, run in enumerate(panels[row]):
            a, b, c = axes[lead + i, 3 * r: 3 * r + 3]
            top = i == 0
            show(a, "gram", run["gram"], "$\\hat D\\hat D^T$" if top else None)
            show(b, "gram", run["alignment"], "$F\\hat D^T$" if top else None)
            show(c, "codes", run["codes"], f"codes, run {r + 1}" if top else None)
        axes[lead + i, 0].set_ylabel(row, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    _runs_grid_legend(fig, cmax)
    return fig


def _runs_grid_legend(fig: Any, cmax: float) -> None:
    """Two colour bars (cosine; code value) and a line on what the panels' axes are."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig.subplots_adjust(right=0.9, bottom=0.12)
    for (y0, label, lim) in ((0.55, "cosine", 1.0), (0.14, "code value", cmax)):
        cax = fig.add_axes((0.92, y0, 0.012, 0.3))
        bar = fig.colorbar(ScalarMappable(Normalize(-lim, lim), "RdBu_r"), cax=cax)
        bar.set_label(label, fontsize=6)
        bar.ax.tick_params(labelsize=5, length=1.5)
    fig.text(0.01, 0.01,
             "$\\hat D\\hat D^T$, $F\\hat D^T$: rows and columns = the features "
             "(latents matched to them), colour = cosine. codes: rows = reference samples "
             "(sorted by top-level node), columns = latents matched to the features.",
             fontsize=5.5, ha="left", va="bottom")
