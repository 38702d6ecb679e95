"""Offline loaders: MNIST, digits, images and patches, text documents, GloVe."""

from __future__ import annotations

import numpy as np
import pytest

from mplib.assets import AssetMissing, package_dir
from mplib.datasets import (
    load_digits_8x8,
    load_documents,
    load_glove,
    load_images,
    load_mnist,
    sample_patches,
    split_documents,
)


def test_mnist_stratified_seeded_split():
    m = load_mnist(n_train=4000, n_eval=1000, seed=0)
    assert m.X_train.shape == (4000, 784) and m.X_eval.shape == (1000, 784)
    assert np.all(np.bincount(m.y_train) == 400) and np.all(np.bincount(m.y_eval) == 100)
    assert 0 <= m.X_train.min() and m.X_train.max() <= 1
    both = np.concatenate([m.X_train, m.X_eval])
    assert len(np.unique(both, axis=0)) == len(both)  # disjoint
    again = load_mnist(seed=0)
    np.testing.assert_array_equal(again.X_train, m.X_train)
    assert not np.array_equal(load_mnist(seed=1).y_train, m.y_train)


def test_mnist_has_500_per_class():
    m = load_mnist(n_train=4000, n_eval=1000)
    assert np.all(np.bincount(np.concatenate([m.y_train, m.y_eval])) == 500)


@pytest.mark.parametrize("kw", [dict(n_train=4001), dict(n_train=4500, n_eval=1000),
                                dict(n_eval=0)])
def test_mnist_bad_sizes(kw):
    with pytest.raises(ValueError, match="n_train|n_eval"):
        load_mnist(**kw)


def test_digits_and_patches():
    X, y = load_digits_8x8()
    assert X.shape == (1797, 64) and X.max() <= 1
    imgs = load_images(("camera", "astronaut"))
    assert imgs["camera"].shape == (512, 512) and imgs["astronaut"].ndim == 2
    P = sample_patches(imgs, n_patches=100, seed=3)
    assert P.shape == (100, 64)
    np.testing.assert_array_equal(P, sample_patches(imgs, n_patches=100, seed=3))
    with pytest.raises(ValueError, match="names"):
        load_images(("eagle",))
    with pytest.raises(ValueError, match="n_patches"):
        sample_patches(imgs, n_patches=0)


def test_documents_plain_text_split_by_document():
    docs = load_documents("wiki")
    assert len(docs) > 90 and all(len(d.text.split()) >= 200 for d in docs)
    assert not any("'''" in d.text or "[[" in d.text for d in docs)
    assert len({d.doc_id for d in docs}) == len(docs)
    parts = split_documents(docs, seed=0)
    ids = [{d.doc_id for d in parts[k]} for k in ("train", "eval")]
    assert not ids[0] & ids[1] and len(ids[0]) + len(ids[1]) == len(docs)
    assert parts == split_documents(docs, seed=0)
    assert len(load_documents("news")) > 50
    with pytest.raises(ValueError, match="source"):
        load_documents("tinystories")


def test_glove_sanity():
    g = load_glove()
    assert g.vectors.shape == (400000, 50)
    v = lambda w: g.vectors[g.index[w]] / np.linalg.norm(g.vectors[g.index[w]])  # noqa: E731
    assert abs(float(v("cat") @ v("dog")) - 0.92) < 0.01
    assert abs(float(v("cat") @ v("car")) - 0.36) < 0.01


def test_missing_asset_names_the_install_command():
    with pytest.raises(AssetMissing, match="pip install"):
        package_dir("no_such_asset_package")
