"""The CLIP-style joint model: recipe validation, learning on a separable toy, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mplib.models.joint import (
    JointConfig,
    evaluate_joint,
    glove_features,
    train_joint,
    unique_captions,
)


def _toy(n=300, seed=0):
    """Ten 'digits': image = a class-specific pixel block + noise; captions = class features."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), n // 10)
    X = 0.05 * rng.random((n, 784)).astype(np.float32)
    for c in range(10):
        X[y == c, c * 70 : c * 70 + 70] += 0.9
    feats = np.eye(10, 16, dtype=np.float32) + 0.01 * rng.standard_normal((10, 16)).astype(
        np.float32)
    ids = np.repeat(y[:, None], 5, axis=1)
    return X, y, ids, feats


def test_learns_a_joint_space():
    X, y, ids, feats = _toy()
    model = train_joint(X, ids, feats, JointConfig(image_tower="mlp", epochs=30, batch_size=50))
    rep = evaluate_joint(model, X, y, ids, feats, feats)
    assert rep.zero_shot_accuracy > 0.95
    assert rep.image_to_text_recall["@1"] > 0.95 and 0 <= rep.modality_gap < 2


def test_same_seed_same_model():
    X, y, ids, feats = _toy(100)
    cfg = JointConfig(image_tower="mlp", epochs=2, batch_size=20, seed=4)
    a = train_joint(X, ids, feats, cfg)
    b = train_joint(X, ids, feats, cfg)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=0, rtol=0)


def test_unique_captions_and_glove_features():
    strings, ids = unique_captions([["a b", "c"], ["c", "a b"]])
    assert strings == ["a b", "c"] and ids.tolist() == [[0, 1], [1, 0]]
    vec = np.arange(6, dtype=np.float32).reshape(3, 2)
    f = glove_features(["a b", "c zz"], vec, {"a": 0, "b": 1, "c": 2})
    np.testing.assert_allclose(f, [[1, 2], [4, 5]])
    with pytest.raises(ValueError, match="no word"):
        glove_features(["zz"], vec, {"a": 0})


@pytest.mark.parametrize("kw,match", [(dict(image_tower="vit"), "image_tower"),
                                      (dict(batch_size=1), "batch_size"),
                                      (dict(lr=0.0), "lr"), (dict(epochs=0), "epochs")])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        JointConfig(**kw)


def test_mismatched_pairs():
    X, y, ids, feats = _toy(50)
    with pytest.raises(ValueError, match="caption_ids"):
        train_joint(X, ids[:10], feats, JointConfig(epochs=1))
