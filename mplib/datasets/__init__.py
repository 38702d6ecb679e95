"""Synthetic data with known ground truth, and loaders of offline assets.

The generators return the ground truth (directions, codes, the concept tree) with the data,
so every model can be scored against it.
"""

from mplib.datasets.dark_matter import (
    DarkMatterConfig,
    DarkMatterParts,
    DarkMatterSample,
    make_dark_matter,
)
from mplib.datasets.real import (
    Document,
    GloVe,
    MNISTSplit,
    load_digits_8x8,
    load_documents,
    load_glove,
    load_images,
    load_mnist,
    sample_patches,
    split_documents,
)
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
    "DarkMatterConfig",
    "DarkMatterParts",
    "DarkMatterSample",
    "make_dark_matter",
    "Document",
    "GloVe",
    "MNISTSplit",
    "load_digits_8x8",
    "load_documents",
    "load_glove",
    "load_images",
    "load_mnist",
    "sample_patches",
    "split_documents",
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
