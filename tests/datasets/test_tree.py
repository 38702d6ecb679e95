"""General concept trees and their vectorised sampler (``make_tree``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.datasets import Node, Tree, make_tree, mpsae_tree


def test_make_tree_structure_and_expected_l0():
    tree = make_tree((3, 2), active_prob=(0.3, 0.25), exclusive=(True, False))
    assert tree.n_features == 9
    assert list(tree.levels) == [0, 1, 1, 0, 1, 1, 0, 1, 1]
    assert list(tree.parents) == [-1, 0, 0, -1, 3, 3, -1, 6, 6]
    # 3 exclusive top nodes at 0.3 each (0.1 "none"), children independent at 0.25
    assert tree.expected_l0() == pytest.approx(0.9 * (1 + 2 * 0.25))


@pytest.mark.parametrize(
    "branching, probs, exclusive",
    [((4,), 0.2, True), ((2, 3), (0.5, 0.3), (False, True)), ((2, 2, 2), 0.4, False)],
)
def test_sampler_frequencies_match_marginals(branching, probs, exclusive):
    tree = make_tree(branching, active_prob=probs, exclusive=exclusive)
    n = 100_000
    a = tree.sample_active(n, torch.Generator().manual_seed(1)).numpy()
    p = tree.marginal_probs()
    se = np.sqrt(p * (1 - p) / n) + 1e-9
    assert np.all(np.abs(a.mean(0) - p) < 5 * se)
    # a child never fires without its parent
    for f, par in enumerate(tree.parents):
        if par >= 0:
            assert not np.any(a[:, f] & ~a[:, par])


def test_exclusive_children_fire_one_at_a_time():
    tree = make_tree((5,), active_prob=0.2, exclusive=True)
    a = tree.sample_active(10_000, torch.Generator().manual_seed(0)).numpy()
    assert np.all(a.sum(1) == 1)


def test_dict_round_trip():
    tree = mpsae_tree()
    again = Tree(tree.to_dict())
    assert again.to_dict() == tree.to_dict()
    np.testing.assert_array_equal(again.parents, tree.parents)


def test_same_seed_same_sample():
    tree = mpsae_tree()
    a = tree.sample_active(1000, torch.Generator().manual_seed(3))
    b = tree.sample_active(1000, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(branching=()), "branching"),
        (dict(branching=(0,)), "branching"),
        (dict(branching=(2, 2), active_prob=(0.2,)), "active_prob"),
        (dict(branching=(2,), exclusive=(True, False)), "exclusive"),
        (dict(branching=(6,), active_prob=0.3, exclusive=True), "active_prob"),
        (dict(branching=(2,), active_prob=1.5), "active_prob"),
    ],
)
def test_make_tree_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_tree(**kwargs)


def test_node_validation():
    with pytest.raises(ValueError, match="sum to 1"):
        Node(1.0, exclusive_children=True, children=(Node(0.3), Node(0.3)))
    with pytest.raises(ValueError, match="at least two"):
        Node(1.0, exclusive_children=True, children=(Node(1.0),))
    with pytest.raises(ValueError, match="read-out"):
        Tree(Node(1.0, read_out=False))


@pytest.mark.parametrize(
    "tree",
    [mpsae_tree(), make_tree((3, 2), active_prob=(0.3, 0.25), exclusive=(True, False)),
     make_tree((2, 3), active_prob=(0.5, 0.3), exclusive=(False, True))],
    ids=["mpsae", "exclusive-top", "independent-top"],
)
def test_outcomes_are_the_sampler_law(tree):
    """Tree.outcomes (the stream's sampler) enumerates the law of sample_active."""
    probs, table = tree.outcomes()
    assert probs.sum() == pytest.approx(1.0, abs=1e-12) and (probs > 0).all()
    marg = np.zeros(tree.n_features + 1)
    for p, row in zip(probs, table):
        marg[np.unique(row)] += p
    np.testing.assert_allclose(marg[:-1], tree.marginal_probs(), atol=1e-12)
    n = 60_000
    a = tree.sample_active(n, torch.Generator().manual_seed(5)).numpy()
    seen = {}
    for row in a:
        key = tuple(np.flatnonzero(row))
        seen[key] = seen.get(key, 0) + 1
    expected = {tuple(int(f) for f in row if f < tree.n_features): p
                for p, row in zip(probs, table)}
    assert set(seen) <= set(expected)  # nothing the enumeration misses
    for key, p in expected.items():
        se = np.sqrt(p * (1 - p) / n)
        assert abs(seen.get(key, 0) / n - p) < 5 * se + 1e-4, key


def test_outcomes_give_up_past_the_limit():
    from mplib.datasets import matryoshka_tree

    assert matryoshka_tree().outcomes() is None  # 11 independent top-level nodes
    assert mpsae_tree().outcomes(limit=10) is None
