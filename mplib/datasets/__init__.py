"""Synthetic data with known ground truth, and loaders of offline assets.

The generators return the ground truth (directions, codes, the concept tree) with the data,
so every model can be scored against it.
"""

from mplib.datasets.toy import (
    VARIANTS,
    HierarchicalToy,
    ToySpec,
    ToyStream,
    data_generator,
    group_cosine,
    hierarchical_toy,
    matryoshka_tree,
    mixing_epsilon,
    mpsae_tree,
)
from mplib.datasets.tree import Node, Tree, make_tree

__all__ = [
    "VARIANTS",
    "HierarchicalToy",
    "Node",
    "ToySpec",
    "ToyStream",
    "Tree",
    "data_generator",
    "group_cosine",
    "hierarchical_toy",
    "make_tree",
    "matryoshka_tree",
    "mixing_epsilon",
    "mpsae_tree",
]
