"""Flat / hierarchical MSE and absorption on the toy's ground truth and hand-made dictionaries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.datasets import hierarchical_toy, make_tree, mpsae_tree
from mplib.metrics import absorption_score, flat_hierarchical_mse, hierarchy_pair_masks

TREE = mpsae_tree()
CHILDREN = np.array([1, 2, 3, 5, 6, 7, 9, 10, 11])
PARENT = {c: p for p in (0, 4, 8) for c in range(p + 1, p + 4)}


@pytest.fixture(scope="module", params=[0.0, 0.3, 0.6])
def toy(request):
    return hierarchical_toy(10, within_level_cosine=request.param, seed=1)


def naive_mse(atoms, F, levels, parents):
    a = atoms / np.linalg.norm(atoms, axis=1, keepdims=True)
    G, Gs, A = a @ a.T, F @ F.T, F @ a.T
    sets = {"W": [], "H": [], "X": []}
    for i in range(20):
        for j in range(20):
            if i == j:
                continue
            key = "W" if parents[i] == parents[j] else "H" if levels[i] != levels[j] else "X"
            sets[key].append((i, j))

    def mean(fn, key):
        return np.mean([fn(i, j) for i, j in sets[key]])

    return {
        "flat_mse": mean(lambda i, j: (G[i, j] - Gs[i, j]) ** 2, "W"),
        "hier_mse": mean(lambda i, j: G[i, j] ** 2, "H"),
        "cross_family_mse": mean(lambda i, j: G[i, j] ** 2, "X"),
        "flat_mse_alignment": mean(lambda i, j: (A[i, j] - Gs[i, j]) ** 2, "W"),
        "hier_mse_alignment": mean(lambda i, j: A[i, j] ** 2, "H"),
        "cross_family_mse_alignment": mean(lambda i, j: A[i, j] ** 2, "X"),
    }


def test_pair_sets_of_the_paper_tree():
    m = hierarchy_pair_masks(tree=TREE)
    assert (m.within.sum(), m.across.sum(), m.cross_family.sum()) == (128, 198, 54)
    total = m.within.astype(int) + m.across + m.cross_family
    np.testing.assert_array_equal(total, 1 - np.eye(20))  # a partition of the pairs i != j
    assert m.across[0, 1] and m.within[1, 2] and m.within[0, 12] and m.cross_family[1, 5]


def test_ground_truth_scores_zero(toy):
    res = flat_hierarchical_mse(toy.features, toy.features, tree=toy.tree)
    for name in ("flat_mse", "flat_mse_alignment"):
        assert getattr(res, name) == 0.0
    # across levels and families the truth is orthogonal (conditional orthogonality)
    for name in ("hier_mse", "cross_family_mse", "hier_mse_alignment"):
        assert getattr(res, name) < 1e-28


def test_hand_made_perturbation_closed_form():
    F = hierarchical_toy(10, within_level_cosine=0.0, seed=2).features
    theta = 0.4
    atoms = F.copy()
    atoms[1] = np.cos(theta) * F[1] + np.sin(theta) * F[0]  # child 1 leans towards parent 0
    res = flat_hierarchical_mse(atoms, F, tree=TREE)
    s2 = np.sin(theta) ** 2
    assert res.hier_mse == pytest.approx(2 * s2 / 198, rel=1e-12)  # Ĝ_01 = Ĝ_10 = sin θ
    assert res.hier_mse_alignment == pytest.approx(s2 / 198, rel=1e-12)  # only A_01 = sin θ
    assert res.flat_mse == pytest.approx(0.0, abs=1e-28)
    assert res.cross_family_mse == pytest.approx(0.0, abs=1e-28)
    # and a flat error: two leaf parents made identical instead of orthogonal (cosine 0)
    atoms = F.copy()
    atoms[13] = F[12]
    res = flat_hierarchical_mse(atoms, F, tree=TREE)
    assert res.flat_mse == pytest.approx(2 / 128, rel=1e-12)
    assert res.flat_mse_alignment == pytest.approx(1 / 128, rel=1e-12)
    assert res.hier_mse == pytest.approx(0.0, abs=1e-28)


def test_matches_naive_loops(rng, toy):
    atoms = toy.features + 0.2 * rng.normal(size=(20, 20))
    res = flat_hierarchical_mse(atoms * 3.0, toy.features, tree=toy.tree)
    ref = naive_mse(atoms, toy.features, toy.levels, toy.parents)
    for name, value in ref.items():
        assert getattr(res, name) == pytest.approx(value, rel=1e-12), name


def test_tree_arguments_are_equivalent(rng, toy):
    atoms = toy.features + 0.1 * rng.normal(size=(20, 20))
    a = flat_hierarchical_mse(atoms, toy.features, tree=toy)  # a HierarchicalToy works too
    b = flat_hierarchical_mse(atoms, toy.features, parents=toy.parents)
    c = flat_hierarchical_mse(atoms, toy.features, parents=toy.parents, levels=toy.levels)
    assert a == b == c
    with pytest.raises(ValueError, match="levels"):
        flat_hierarchical_mse(atoms, toy.features, parents=toy.parents, levels=np.zeros(20, int))
    with pytest.raises(ValueError, match="either tree"):
        flat_hierarchical_mse(atoms, toy.features, tree=toy, parents=toy.parents)
    with pytest.raises(ValueError, match="parents"):
        flat_hierarchical_mse(atoms, toy.features)
    cycle = np.r_[1, 0, np.full(18, -1)]
    with pytest.raises(ValueError, match="no cycles"):
        flat_hierarchical_mse(atoms, toy.features, parents=cycle)
    with pytest.raises(ValueError, match="parents must hold"):
        flat_hierarchical_mse(atoms, toy.features, parents=np.r_[0, np.full(19, -1)])
    with pytest.raises(ValueError, match="parents must have shape"):
        flat_hierarchical_mse(atoms, toy.features, parents=[-1, 0])


def test_runs_dimension(rng, toy, device):
    atoms = toy.features + 0.2 * rng.normal(size=(5, 20, 20))
    res = flat_hierarchical_mse(torch.tensor(atoms, device=device), toy.features, tree=TREE)
    assert res.hier_mse.shape == (5,)
    for b in range(5):
        one = flat_hierarchical_mse(atoms[b], toy.features, tree=TREE)
        assert res.flat_mse[b] == pytest.approx(one.flat_mse, rel=1e-12)
        assert res.hier_mse_alignment[b] == pytest.approx(one.hier_mse_alignment, rel=1e-12)


def test_deeper_tree_and_empty_set():
    tree = make_tree((2, 2))  # 2 parents with 2 children each: no cross-family at level 0
    m = hierarchy_pair_masks(tree=tree)
    assert m.cross_family.sum() == 8  # ordered pairs of children of different parents
    F = np.eye(2)  # two top-level features: no pair across levels
    res = flat_hierarchical_mse(F, F, parents=[-1, -1])
    assert np.isnan(res.hier_mse) and res.flat_mse == 0.0


def mixtures(F, a, b):
    """Replace each child atom by a·parent + b·child (absorption)."""
    atoms = F.copy()
    for c in CHILDREN:
        atoms[c] = a * F[PARENT[c]] + b * F[c]
    return atoms


def test_absorption_zero_for_the_truth(toy):
    res = absorption_score(toy.features, toy.features, tree=toy.tree)
    assert abs(res.score) < 1e-14
    assert res.recovered_fraction == 1.0 and res.n_recovered == res.n_pairs == 9
    np.testing.assert_array_equal(res.children, CHILDREN)
    np.testing.assert_allclose(res.child_cosine, 1.0)


@pytest.mark.parametrize(("a", "b"), [(1.0, 1.0), (0.5, 1.0), (1.0, 1.5)])
def test_absorption_of_parent_child_mixtures(toy, a, b):
    res = absorption_score(mixtures(toy.features, a, b), toy.features, tree=toy.tree)
    assert res.score == pytest.approx(a / np.hypot(a, b), rel=1e-12)
    np.testing.assert_allclose(res.child_cosine, b / np.hypot(a, b))
    assert res.recovered_fraction == 1.0


def test_absorption_not_recovered_is_nan_with_fraction(toy):
    F = toy.features
    gone = mixtures(F, 1.0, 0.0)  # every child atom is its parent: children not recovered
    res = absorption_score(gone, F, tree=TREE)
    assert np.isnan(res.score) and res.recovered_fraction == 0.0
    # pooled over runs: one good run, one absorbed run, one lost run
    runs = np.stack([mixtures(F, 1.0, 1.0), F, gone])
    res = absorption_score(runs, F, tree=TREE)
    assert res.n_pairs == 27 and res.n_recovered == 18
    assert res.score == pytest.approx(np.mean([2**-0.5] * 9 + [0.0] * 9))
    assert res.parent_cosine.shape == res.recovered.shape == (3, 9)
    res = absorption_score(np.stack([F, gone, gone]), F, tree=TREE)  # 1/3 < 1/2 recovered
    assert np.isnan(res.score) and res.recovered_fraction == pytest.approx(1 / 3)


def test_absorption_errors(toy):
    F = toy.features
    with pytest.raises(ValueError, match="threshold"):
        absorption_score(F, F, tree=TREE, threshold=1.5)
    with pytest.raises(ValueError, match="no children"):
        absorption_score(F, F, parents=np.full(20, -1))
    with pytest.raises(ValueError, match="atoms and features"):
        absorption_score(F[:, :5], F, tree=TREE)


def test_absorption_is_a_magnitude_and_the_signed_mean_is_kept(toy):
    """Table 1's score is the mean |cos(child atom, parent)|: leaning away counts as absorbed."""
    F = toy.features
    toward, away = mixtures(F, 0.6, 0.8), mixtures(F, -0.6, 0.8)
    up, down = absorption_score(toward, F, tree=toy.tree), absorption_score(away, F, tree=toy.tree)
    assert up.score == pytest.approx(0.6) and down.score == pytest.approx(0.6)
    assert up.signed_score == pytest.approx(0.6) and down.signed_score == pytest.approx(-0.6)
    both = absorption_score(np.stack([toward, away]), F, tree=toy.tree)
    assert both.score == pytest.approx(0.6) and abs(both.signed_score) < 1e-12
