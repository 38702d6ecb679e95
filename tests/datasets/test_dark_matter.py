"""The synthetic dark-matter world: its parts add up, its knobs do what they say."""

from __future__ import annotations

import numpy as np
import pytest

from mplib.datasets import DarkMatterConfig, make_dark_matter
from mplib.metrics import fit_error_map

SMALL = DarkMatterConfig(d=16, n_features=256)


def test_parts_add_up_and_codes_match():
    s = make_dark_matter(2000, SMALL, seed=0, dtype=np.float64)
    p = s.parts
    np.testing.assert_allclose(s.X, p.sparse + p.dense_noise + p.nonlinear + p.offset,
                               atol=1e-12)
    np.testing.assert_allclose(s.codes() @ s.features, p.sparse, atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(s.features, axis=1), 1.0)
    assert not p.nonlinear.any() and not p.offset.any()


def test_codes_are_distinct_poisson_and_zipf():
    s = make_dark_matter(20_000, SMALL, seed=1)
    for row in s.code_idx[:500]:
        ids = row[row >= 0]
        assert len(set(ids.tolist())) == len(ids)
    counts = (s.code_idx >= 0).sum(1)
    assert counts.mean() == pytest.approx(6.0, rel=0.03)
    freq = np.bincount(s.code_idx[s.code_idx >= 0], minlength=256)
    assert freq[0] > freq[10] > freq[200]
    assert (s.code_val[s.code_idx < 0] == 0).all()
    assert s.code_val[s.code_idx >= 0].mean() == pytest.approx(1.0, rel=0.02)


def test_seeds_world_and_tokens():
    a = make_dark_matter(100, SMALL, seed=0)
    b = make_dark_matter(100, SMALL, seed=0)
    c = make_dark_matter(100, SMALL, seed=1)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.features, c.features)  # one world
    assert not np.array_equal(a.X, c.X)
    other = make_dark_matter(100, DarkMatterConfig(d=16, n_features=256, world_seed=1))
    assert not np.array_equal(a.features, other.features)


@pytest.mark.parametrize("rho", [0.0, 0.25, 0.5])
def test_shared_cosine_realised(rho):
    s = make_dark_matter(10, DarkMatterConfig(d=32, n_features=512, shared_cosine=rho))
    assert s.mean_cosine == pytest.approx(rho, abs=0.02)


def test_offset_noise_and_nonlinear_knobs():
    cfg = DarkMatterConfig(d=16, n_features=256, offset_norm=3.0, nonlinear_scale=1.0,
                           dense_noise_std=0.2, dense_noise_decay=0.0)
    s = make_dark_matter(20_000, cfg, seed=0, dtype=np.float64)
    assert np.linalg.norm(s.parts.offset) == pytest.approx(3.0)
    assert s.parts.dense_noise.var(0).mean() == pytest.approx(0.04, rel=0.05)
    assert np.sqrt((s.parts.nonlinear ** 2).sum(1).mean()) == pytest.approx(0.8, abs=0.3)
    # anisotropic spectrum: the noise variance decays along the basis
    decayed = make_dark_matter(20_000, DarkMatterConfig(d=16, n_features=256,
                                                        dense_noise_decay=2.0), seed=0)
    ev = np.linalg.eigvalsh(np.cov(decayed.parts.dense_noise.T))
    assert ev[-1] / ev[0] > 50


def test_dense_noise_is_linearly_unpredictable_from_sparse_part():
    s = make_dark_matter(8000, SMALL, seed=0, dtype=np.float64)
    fit = fit_error_map(s.parts.sparse, s.parts.dense_noise, n_fit=0.5, n_eval=None)
    assert abs(fit.r2) < 0.02


@pytest.mark.parametrize("field, value", [("d", 0), ("n_features", -1), ("mean_active", 0.0),
                                          ("shared_cosine", 1.0), ("size_std", -0.1),
                                          ("dense_noise_std", float("nan"))])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        DarkMatterConfig(**{field: value})


def test_config_types_and_n_tokens():
    with pytest.raises(TypeError, match="d must be an int"):
        DarkMatterConfig(d=2.5)
    with pytest.raises(ValueError, match="n_tokens"):
        make_dark_matter(0, SMALL)
    assert DarkMatterConfig(**SMALL.to_dict()) == SMALL
