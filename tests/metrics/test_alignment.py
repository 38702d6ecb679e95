"""Hungarian alignment: exact recovery of known permutations, the authors' cost, optimality."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mplib.datasets import ToySpec, hierarchical_toy
from mplib.metrics import align_dictionary, hungarian_alignment
from mplib.repro import torch_generator


@pytest.fixture(scope="module")
def toy():
    return hierarchical_toy(10, within_level_cosine=0.3, seed=0)


@pytest.fixture(scope="module")
def matching_batch(toy):
    # the spec's matching batch: 1,000 binary samples (§ 2.4)
    return ToySpec("mpsae", 0.3).codes(1000, torch_generator(1), binary=True).numpy()


def test_activations_recover_a_permutation_up_to_scale(rng, toy, matching_batch):
    F, T = toy.features, matching_batch
    perm = rng.permutation(20)
    inv = np.argsort(perm)
    scale = rng.uniform(0.2, 5.0, size=20)
    D = F[perm] * rng.uniform(0.5, 2.0, size=(20, 1))  # latent j = feature perm[j]
    Z = T[:, perm] * scale  # positive scales do not change the similarity
    res = hungarian_alignment(D, F, codes=Z, true_codes=T)
    assert res.method == "activations"
    np.testing.assert_array_equal(res.permutation, inv)
    np.testing.assert_array_equal(Z[:, res.permutation] / scale[inv], T)
    np.testing.assert_array_equal(res.aligned_codes(Z), Z[:, res.permutation])
    np.testing.assert_allclose(res.atoms, F, atol=1e-12)
    np.testing.assert_allclose(res.cosine, 1.0)
    np.testing.assert_allclose(res.gram, F @ F.T, atol=1e-12)
    np.testing.assert_allclose(res.alignment, F @ F.T, atol=1e-12)
    np.testing.assert_array_equal(res.signs, 1.0)


def test_similarity_is_the_authors_cost(rng, toy, matching_batch):
    T = matching_batch
    Z = np.maximum(T @ rng.normal(size=(20, 20)), 0)
    res = hungarian_alignment(rng.normal(size=(20, 20)), toy.features, codes=Z, true_codes=T)
    zn = Z / np.maximum(Z.max(0), 1e-10)
    tn = T / np.maximum(T.max(0), 1e-10)
    np.testing.assert_allclose(res.similarity, zn.T @ tn, rtol=1e-12)


def test_assignment_is_optimal_brute_force(rng):
    for _ in range(5):
        D, F = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
        res = hungarian_alignment(D, F, method="cosine")
        S = res.similarity
        best = max(
            sum(S[c, i] for i, c in enumerate(cols)) for cols in itertools.permutations(range(5), 4)
        )
        assert S[res.permutation, np.arange(4)].sum() == pytest.approx(best)
        assert sorted(res.order) == list(range(5))
        np.testing.assert_array_equal(res.order[:4], res.permutation)


def test_cosine_method_is_sign_and_scale_invariant(rng, toy):
    F = toy.features
    perm = rng.permutation(20)
    signs = rng.choice([-1.0, 1.0], size=20)
    D = F[perm] * (signs * rng.uniform(0.1, 10, size=20))[:, None]
    res = hungarian_alignment(D, F)
    assert res.method == "cosine"
    np.testing.assert_array_equal(res.permutation, np.argsort(perm))
    np.testing.assert_array_equal(res.signs, signs[np.argsort(perm)])
    z = np.abs(np.random.default_rng(0).normal(size=(5, 20)))
    np.testing.assert_array_equal(res.aligned_codes(z), z[:, res.permutation] * res.signs)
    np.testing.assert_allclose(res.atoms, F, atol=1e-12)
    np.testing.assert_allclose(res.cosine, 1.0)


def test_more_latents_than_features(rng, toy, matching_batch):
    F, T = toy.features, matching_batch
    perm = rng.permutation(26)  # latent j = feature perm[j] for perm[j] < 20, else noise
    D = np.concatenate([F, rng.normal(size=(6, 20))])[perm]
    Z = np.concatenate([T, 0.01 * rng.random((1000, 6))], axis=1)[:, perm]
    for kw in ({"codes": Z, "true_codes": T}, {}):
        res = hungarian_alignment(D, F, **kw)
        np.testing.assert_array_equal(res.permutation, np.argsort(perm)[:20])
        np.testing.assert_array_equal(np.sort(res.order[20:]), np.sort(np.argsort(perm)[20:]))
        assert res.similarity.shape == (26, 20)


def test_runs_each_recover_their_permutation(rng, device):
    F = np.stack([np.linalg.qr(rng.normal(size=(8, 8)))[0] for _ in range(4)])
    perms = np.stack([rng.permutation(8) for _ in range(4)])
    D = np.stack([f[p] for f, p in zip(F, perms)])
    T = (rng.random((4, 300, 8)) < 0.3).astype(float)
    Z = np.stack([t[:, p] for t, p in zip(T, perms)])
    res = hungarian_alignment(
        torch.tensor(D, device=device),
        torch.tensor(F, device=device),
        codes=torch.tensor(Z, device=device),
        true_codes=T,
    )
    assert res.permutation.shape == (4, 8) and res.atoms.shape == (4, 8, 8)
    for b in range(4):
        np.testing.assert_array_equal(res.permutation[b], np.argsort(perms[b]))
    np.testing.assert_allclose(res.atoms, F, atol=1e-12)
    np.testing.assert_array_equal(res.aligned_codes(Z), T)
    with pytest.raises(ValueError, match="codes"):
        res.aligned_codes(Z[:2])
    # one truth shared by all runs broadcasts
    shared = hungarian_alignment(D[:, :, :], F[0], method="cosine")
    assert shared.permutation.shape == (4, 8)
    assert shared.alignment.flags.c_contiguous and shared.similarity.flags.c_contiguous


def test_dead_latents_do_not_break_alignment(toy, matching_batch):
    F, T = toy.features, matching_batch
    Z = T.copy()
    Z[:, 5] = 0  # latent 5 never fires: it still gets matched (to the leftover feature)
    res = hungarian_alignment(F, F, codes=Z, true_codes=T)
    assert np.isfinite(res.similarity).all()
    assert sorted(res.permutation) == list(range(20))


def test_alignment_errors(rng, toy, matching_batch):
    F, T = toy.features, matching_batch
    with pytest.raises(ValueError, match="at least as many atoms"):
        hungarian_alignment(F[:10], F)
    with pytest.raises(ValueError, match="true_codes"):
        hungarian_alignment(F, F, codes=T)
    with pytest.raises(ValueError, match="only by method='activations'"):
        hungarian_alignment(F, F, codes=T, true_codes=T, method="cosine")
    with pytest.raises(ValueError, match="method"):
        hungarian_alignment(F, F, method="greedy")
    with pytest.raises(ValueError, match="features"):
        hungarian_alignment(F, F[:, :5])
    with pytest.raises(ValueError, match="codes must have shape"):
        hungarian_alignment(F, F, codes=T[:, :5], true_codes=T)
    with pytest.raises(ValueError, match="broadcast"):
        hungarian_alignment(np.stack([F] * 3), np.stack([F] * 2))


def test_align_dictionary(rng):
    D = rng.normal(size=(2, 5, 3))
    perm = np.array([[4, 0, 2], [1, 1, 3]])
    out = align_dictionary(D, perm, signs=[[1, -1, 1], [1, 1, -1]])
    assert out.shape == (2, 3, 3)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0)
    np.testing.assert_allclose(out[0, 1], -D[0, 0] / np.linalg.norm(D[0, 0]))
    np.testing.assert_allclose(out[1, 2], -D[1, 3] / np.linalg.norm(D[1, 3]))
    with pytest.raises(ValueError, match="permutation"):
        align_dictionary(D, [0, 7])
    with pytest.raises(TypeError, match="permutation"):
        align_dictionary(D, [0.5, 1.0])
