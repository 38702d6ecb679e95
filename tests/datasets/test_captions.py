"""Digit captions: measured attributes and templates."""

from __future__ import annotations

import numpy as np
import pytest

from mplib.datasets.captions import (
    DIGIT_NAMES,
    class_prompts,
    digit_attributes,
    make_captions,
)


def _bar(width, thickness, slant=0):
    img = np.zeros((28, 28))
    for r in range(4, 24):
        c0 = 14 - width // 2 + (slant * (14 - r)) // 10
        img[r, c0 : c0 + max(width, thickness)] = 1.0
    return img


def test_attributes_follow_the_drawing():
    thin, bold = _bar(2, 2), _bar(6, 6)
    a = digit_attributes(np.stack([thin, bold]))
    assert a.thickness[1] > a.thickness[0]
    assert a.width[1] > a.width[0]
    right, left = _bar(3, 3, slant=5), _bar(3, 3, slant=-5)
    s = digit_attributes(np.stack([right, left])).slant
    assert s[0] > 0 > s[1]


def test_captions_name_the_digit_and_differ_per_image():
    labels = np.array([7, 7, 3])
    bins = np.array([[0, 0, 0], [2, 2, 2], [1, 1, 1]])
    caps = make_captions(labels, bins, seed=0)
    assert all(len(c) == 5 and len(set(c)) == 5 for c in caps)
    assert all(("seven" in s or "7" in s) for s in caps[0])
    assert set(caps[0]) != set(caps[1])
    assert caps == make_captions(labels, bins, seed=0)
    assert class_prompts()[7] == f"a handwritten {DIGIT_NAMES[7]}"


def test_bad_input():
    with pytest.raises(ValueError, match="labels"):
        make_captions(np.array([10]), np.zeros((1, 3), int))
    with pytest.raises(ValueError, match="bins"):
        make_captions(np.array([1]), np.zeros((1, 2), int))
    with pytest.raises(ValueError, match="ink"):
        digit_attributes(np.zeros((1, 784)))
