"""The synthetic hierarchy of the MP-SAE paper."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mplib.datasets import (
    ToySpec,
    ToyStream,
    group_cosine,
    hierarchical_toy,
    mixing_epsilon,
    mpsae_tree,
)

TOP = [0, 4, 8, *range(12, 20)]
KIDS = {0: [1, 2, 3], 4: [5, 6, 7], 8: [9, 10, 11]}

# The authors' notebook tables (index l <-> cosine l/10).
EPS_CHILD = [0, 0.0895, 0.163, 0.226, 0.282, 0.3335, 0.3825, 0.431, 0.482]
EPS_PARENT = [0, 0.3, 0.44, 0.529, 0.594, 0.6467, 0.692, 0.733, 0.7739]


@pytest.fixture(scope="module")
def big():
    return hierarchical_toy(200_000, within_level_cosine=0.3, seed=3)


def test_tree_indices_match_authors():
    tree = mpsae_tree()
    assert tree.n_features == 20
    assert [int(i) for i in np.flatnonzero(tree.levels == 0)] == TOP
    for p, kids in KIDS.items():
        assert list(np.flatnonzero(tree.parents == p)) == kids
    assert tree.expected_l0() == pytest.approx(1.36, abs=1e-12)


def test_realised_l0_and_frequencies(big):
    l0 = big.active.sum(1)
    assert set(np.unique(l0)) == {1, 2}
    assert l0.mean() == pytest.approx(1.36, abs=0.01)  # SE ≈ 0.001
    p = mpsae_tree().marginal_probs()
    se = np.sqrt(p * (1 - p) / len(l0))
    assert np.all(np.abs(big.active.mean(0) - p) < 5 * se)


def test_exclusivity_and_children_need_their_parent(big):
    a = big.active
    assert np.all(a[:, TOP].sum(1) == 1)
    for p, kids in KIDS.items():
        assert np.all(a[:, kids].sum(1) <= a[:, p])


def test_magnitudes(big):
    vals = big.codes[big.active]
    assert vals.mean() == pytest.approx(1.5, abs=0.005)
    assert vals.std() == pytest.approx(0.25, abs=0.005)
    assert np.all(big.codes[~big.active] == 0)


def test_signals_are_codes_times_features(big):
    np.testing.assert_allclose(big.X, big.codes @ big.features, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(big.features, axis=1), 1.0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 0.999), st.integers(0, 2**31 - 1))
def test_exact_cosines_any_value(cos, seed):
    toy = hierarchical_toy(1, within_level_cosine=cos, seed=seed)
    G = toy.features @ toy.features.T
    for group in [TOP, *KIDS.values()]:
        block = G[np.ix_(group, group)]
        off = block[~np.eye(len(group), dtype=bool)]
        np.testing.assert_allclose(off, cos, atol=1e-9)
    # exact orthogonality across groups: parent ⟂ child, children of different parents ⟂
    same = np.zeros((20, 20), dtype=bool)
    for group in [TOP, *KIDS.values()]:
        same[np.ix_(group, group)] = True
    assert np.abs(G[~same]).max() < 1e-12


@pytest.mark.parametrize("level", range(9))
def test_closed_form_agrees_with_the_authors_table(level):
    target = level / 10
    # their rounded table hits the target within ±0.001; ours is exact
    assert group_cosine(EPS_CHILD[level], 3) == pytest.approx(target, abs=1e-3)
    assert group_cosine(EPS_PARENT[level], 11) == pytest.approx(target, abs=1e-3)
    assert mixing_epsilon(target, 3) == pytest.approx(EPS_CHILD[level], abs=2e-3)
    assert mixing_epsilon(target, 11) == pytest.approx(EPS_PARENT[level], abs=2e-3)
    assert group_cosine(mixing_epsilon(target, 11), 11) == pytest.approx(target, abs=1e-13)


def test_level_09_from_the_spec():
    assert mixing_epsilon(0.9, 11) == pytest.approx(9 / 11, abs=1e-12)
    assert mixing_epsilon(0.9, 3) == pytest.approx(0.5407, abs=1e-4)


def test_determinism_by_seed():
    a, b = hierarchical_toy(500, 0.6, seed=7), hierarchical_toy(500, 0.6, seed=7)
    np.testing.assert_array_equal(a.X, b.X)
    c = hierarchical_toy(500, 0.6, seed=8)
    assert not np.allclose(a.X, c.X)
    assert not np.allclose(a.features, c.features)


def test_default_cosine_is_the_fig4a_setting():
    toy = hierarchical_toy(1, seed=0)
    assert toy.spec.within_level_cosine == 0.1
    G = toy.features @ toy.features.T
    assert G[0, 4] == pytest.approx(0.1, abs=1e-12)


def _recursive_sample(tree_dict, rnd):
    """Reference sampler written like the authors' recursive Tree.sample (one sample)."""
    out = []

    def visit(node, forced):
        active = forced if forced is not None else rnd.random() < node["active_prob"]
        if node.get("is_read_out", True):
            out.append(int(active))
        kids = node.get("children", [])
        chosen = None
        if node.get("mutually_exclusive_children") and active:
            chosen = rnd.choices(range(len(kids)), weights=[k["active_prob"] for k in kids])[0]
        for i, kid in enumerate(kids):
            if not active:
                visit(kid, False)
            elif node.get("mutually_exclusive_children"):
                visit(kid, i == chosen)
            else:
                visit(kid, None)

    visit(tree_dict, None)
    return tuple(out)


@pytest.mark.parametrize("variant", ["mpsae", "matryoshka"])
def test_vectorised_sampler_matches_recursive_reference(variant):
    spec = ToySpec(variant)
    tree = spec.tree
    rnd = random.Random(0)
    n = 40_000
    ref = [_recursive_sample(tree.to_dict(), rnd) for _ in range(n)]
    ours = tree.sample_active(n, torch.Generator().manual_seed(0)).numpy().astype(int)
    # compare pattern frequencies (the joint law, not just marginals)
    from collections import Counter

    cr, co = Counter(ref), Counter(map(tuple, ours))
    for pattern in set(cr) | set(co):
        p = (cr[pattern] + co[pattern]) / (2 * n)
        se = np.sqrt(2 * p * (1 - p) / n) + 1e-12
        assert abs(cr[pattern] - co[pattern]) / n < 5 * se + 1e-4, pattern


def test_matryoshka_variant():
    toy = hierarchical_toy(100_000, variant="matryoshka", seed=1)
    a = toy.active
    # top-level nodes independent: P(no top-level node) = 0.85³ · 0.95⁸
    p_none = 0.85**3 * 0.95**8
    assert (a[:, TOP].sum(1) == 0).mean() == pytest.approx(p_none, abs=0.01)
    # binary magnitudes times the jittered feature norms; unit directions
    np.testing.assert_allclose(toy.codes, a * toy.feature_norms, atol=1e-12)
    assert np.std(toy.feature_norms) > 0
    np.testing.assert_allclose(toy.features @ toy.features.T, np.eye(20), atol=1e-12)
    np.testing.assert_allclose(toy.X, toy.codes @ toy.features, atol=1e-12)


def test_table1_variant():
    toy = hierarchical_toy(
        200_000, variant="table1", seed=2, child_mean=0.5, child_std=0.125
    )
    child = toy.levels == 1
    kid_vals = toy.codes[:, child][toy.active[:, child]]
    top_vals = toy.codes[:, ~child][toy.active[:, ~child]]
    assert kid_vals.mean() == pytest.approx(0.5, abs=0.005)
    assert kid_vals.std() == pytest.approx(0.125, abs=0.005)
    assert top_vals.mean() == pytest.approx(1.0, abs=0.005)
    assert top_vals.std() == pytest.approx(0.25, abs=0.005)
    assert toy.spec.within_level_cosine == 0.0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_samples=0), "n_samples"),
        (dict(n_samples=-3), "n_samples"),
        (dict(within_level_cosine=1.0), "within_level_cosine"),
        (dict(within_level_cosine=-0.1), "within_level_cosine"),
        (dict(within_level_cosine=float("nan")), "within_level_cosine"),
        (dict(variant="flat"), "variant"),
        (dict(variant="table1", child_mean=0.5), "child_std"),
        (dict(variant="table1", child_mean=0.5, child_std=-0.1), "child_std"),
        (dict(variant="table1", child_std=0.1), "child_mean"),
        (dict(child_mean=0.5), "child_mean"),
        (dict(variant="matryoshka", within_level_cosine=0.3), "within_level_cosine"),
    ],
)
def test_bad_arguments_raise_naming_the_parameter(kwargs, name):
    kwargs = {"n_samples": 10, **kwargs}
    with pytest.raises(ValueError, match=name):
        hierarchical_toy(**kwargs)


@pytest.mark.parametrize("bad", [1.5, "10", None])
def test_n_samples_type(bad):
    with pytest.raises(TypeError, match="n_samples"):
        hierarchical_toy(bad)


def test_stream_runs_are_independent_of_their_companions():
    spec = ToySpec("mpsae", 0.3)
    together = ToyStream(spec, seeds=[5, 6, 7], batch_size=16, chunk=4)
    alone = ToyStream(spec, seeds=[6], batch_size=16, chunk=4)
    for _ in range(10):  # crosses two refills
        np.testing.assert_array_equal(next(together)[1].numpy(), next(alone)[0].numpy())
    toy = hierarchical_toy(1, 0.3, seed=6)
    np.testing.assert_allclose(together.features[1].numpy(), toy.features, atol=1e-6)


def test_stream_batches_follow_the_law():
    stream = ToyStream(ToySpec("mpsae", 0.0), seeds=[0], batch_size=500, chunk=8)
    x = torch.cat([next(stream)[0] for _ in range(40)])
    F = stream.features[0]
    codes = x @ F.T  # orthonormal features at cosine 0
    active = codes.abs() > 1e-4
    assert active.sum(1).float().mean().item() == pytest.approx(1.36, abs=0.02)
    assert codes[active].mean().item() == pytest.approx(1.5, abs=0.01)


@pytest.mark.parametrize(
    "kwargs, name",
    [(dict(seeds=[]), "seeds"), (dict(batch_size=0), "batch_size"), (dict(chunk=-1), "chunk")],
)
def test_stream_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ToyStream(ToySpec(), **{"seeds": [0], **kwargs})


def test_every_pair_of_variants_and_cosines_builds():
    for variant, cos in itertools.product(["mpsae", "table1"], [0.0, 0.5, 0.9]):
        kw = dict(child_mean=1.0, child_std=0.25) if variant == "table1" else {}
        toy = hierarchical_toy(50, cos, seed=0, variant=variant, **kw)
        assert np.isfinite(toy.X).all()


def test_mixed_stream_equals_single_spec_streams():
    specs = [ToySpec("mpsae", 0.0), ToySpec("mpsae", 0.6), ToySpec("table1", 0.0, 0.5, 0.25)]
    mixed = ToyStream(specs, seeds=[1, 2, 3], batch_size=8, chunk=3)
    alone = [ToyStream(sp, seeds=[s], batch_size=8, chunk=3) for sp, s in zip(specs, [1, 2, 3])]
    for _ in range(5):
        x = next(mixed)
        for m, stream in enumerate(alone):
            np.testing.assert_array_equal(x[m].numpy(), next(stream)[0].numpy())
    with pytest.raises(ValueError, match="one ToySpec per seed"):
        ToyStream(specs, seeds=[1, 2])


def test_data_seed_is_not_the_model_seed():
    """A model seeded with s must not draw the Gaussian behind the features of seed s."""
    from mplib.repro import torch_generator

    gauss = torch.randn(20, 20, generator=torch_generator(4), dtype=torch.float64)
    q = torch.linalg.qr(gauss).Q.T
    toy = hierarchical_toy(1, 0.0, seed=4)
    overlap = np.abs(toy.features @ q.numpy().T).max(1)
    assert overlap.mean() < 0.9


def _stream_codes(spec, n_batches=60, seed=0):
    stream = ToyStream(spec, seeds=[seed], batch_size=500, chunk=8)
    x = torch.cat([next(stream)[0] for _ in range(n_batches)]).double()
    return x @ stream.features[0].double().T  # orthonormal features at cosine 0


def test_stream_table1_magnitudes():
    """The outcome sampler of ToyStream keeps Table 1's magnitude laws."""
    codes = _stream_codes(ToySpec("table1", 0.0, 0.5, 0.125))
    tree = mpsae_tree()
    active = codes.abs() > 1e-4
    kids = codes[:, torch.as_tensor(tree.levels == 1)][active[:, torch.as_tensor(tree.levels == 1)]]
    tops = codes[:, torch.as_tensor(tree.levels == 0)][active[:, torch.as_tensor(tree.levels == 0)]]
    assert kids.mean().item() == pytest.approx(0.5, abs=0.005)
    assert kids.std().item() == pytest.approx(0.125, abs=0.005)
    assert tops.mean().item() == pytest.approx(1.0, abs=0.005)
    assert tops.std().item() == pytest.approx(0.25, abs=0.005)


def test_stream_activity_patterns_follow_the_tree():
    codes = _stream_codes(ToySpec("mpsae", 0.0))
    active = (codes.abs() > 1e-4).numpy()
    probs, table = mpsae_tree().outcomes()
    n = len(active)
    for p, row in zip(probs, table):
        want = np.zeros(20, dtype=bool)
        want[row[row < 20]] = True
        freq = (active == want).all(1).mean()
        assert abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n), row


def test_stream_batches_stay_valid_across_refills():
    """Batches handed out are copies: refilling the stream's buffer never changes them."""
    stream = ToyStream(ToySpec("mpsae", 0.3), seeds=[0, 1], batch_size=8, chunk=2)
    first = next(stream)
    kept = first.clone()
    for _ in range(5):
        next(stream)
    assert torch.equal(first, kept)


def test_matryoshka_stream_uses_the_dense_sampler():
    """Too many outcomes for the outcome sampler: binary codes times jittered norms."""
    spec = ToySpec("matryoshka")
    stream = ToyStream(spec, seeds=[3], batch_size=400, chunk=4)
    x = torch.cat([next(stream)[0] for _ in range(8)]).double()
    codes = x @ stream.features[0].double().T
    norms = stream.feature_norms[0].double()
    ratio = codes / norms
    active = ratio.abs() > 1e-4
    torch.testing.assert_close(ratio[active], torch.ones(int(active.sum()), dtype=torch.float64),
                               rtol=0, atol=1e-5)
    p_none = 0.85**3 * 0.95**8
    none = (~active[:, TOP]).all(1).double().mean().item()
    assert none == pytest.approx(p_none, abs=0.03)
