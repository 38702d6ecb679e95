"""Plotting: the house style, figure sizes, ``save_figure`` and reusable panels.

Panels take arrays and an ``Axes`` and return the ``Axes`` (or the artist); nothing here
imports a compute module. :func:`save_figure` writes ``<stem>.png``, ``.pdf`` and, last,
``<stem>.json`` into ``figures/<preset>/``.
"""

from mplib.plotting.core import FIGSIZE, save_extra_figure, save_figure, use_style
from mplib.plotting.panels import (
    gram_heatmap,
    group_boxes,
    median_band,
    runs_grid,
    tree_diagram,
)
from mplib.plotting.pursuit import pursuit_steps, residual_decay, throughput_bars

__all__ = [
    "FIGSIZE",
    "gram_heatmap",
    "group_boxes",
    "median_band",
    "pursuit_steps",
    "residual_decay",
    "runs_grid",
    "save_extra_figure",
    "save_figure",
    "throughput_bars",
    "tree_diagram",
    "use_style",
]
