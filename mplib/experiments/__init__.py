"""Experiment recipes shared by the notebooks: data × models × metrics, with cached runs.

Each module reproduces one family of paper results (``toy_hierarchy``: the synthetic
hierarchy of the MP-SAE paper). Notebooks configure, call and plot; the recipes live here.
"""

from mplib.experiments.toy_hierarchy import (
    SAE_LABELS,
    TOY_SAES,
    ToyRun,
    ToyScores,
    evaluate_toy_run,
    grid,
    make_toy_sae,
    pooled_absorption,
    reference_codes,
    run_folder,
    train_toy_runs,
)

__all__ = [
    "SAE_LABELS",
    "TOY_SAES",
    "ToyRun",
    "ToyScores",
    "evaluate_toy_run",
    "grid",
    "make_toy_sae",
    "pooled_absorption",
    "reference_codes",
    "run_folder",
    "train_toy_runs",
]
