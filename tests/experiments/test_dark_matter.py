"""Synthetic-world dark-matter runners: oracles of the noise simulation and the rho sweep."""

from __future__ import annotations

import numpy as np
import pytest

from mplib.datasets import DarkMatterConfig, make_dark_matter
from mplib.experiments.dark_matter import (
    WorldSetup,
    analyse_sae,
    noise_simulation,
    train_sae,
    world_samples,
)


def test_oracle_noise_simulation_zero_then_noise_goes_where_it_should():
    s = make_dark_matter(3000, DarkMatterConfig(d=16, n_features=128), seed=0,
                         dtype=np.float64)
    res = noise_simulation(s.parts.sparse, s.codes(), s.features, np.zeros(16),
                           ablate=[0.0, 0.5], act_noise=[0.0, 1.0], rec_noise=[0.0, 1.0])
    assert res["fvu"][0, 0, 0] < 1e-12  # oracle, no noise, no ablation: no error
    # reconstruction noise is independent of x': it stays nonlinear error
    assert res["nonlinear"][0, 0, 1] > 0.5 and res["linear"][0, 0, 1] < 0.05
    # activation noise is a linear function of x' (plus little else): mostly linear error
    assert res["linear"][0, 1, 0] > res["nonlinear"][0, 1, 0]
    # ablated features are absent features: linear error grows (the Zipf tail: a little)
    assert res["linear"][1, 0, 0] > res["linear"][0, 0, 0] + 0.01


@pytest.mark.parametrize("margin", [0.05])
def test_shared_direction_raises_norm_predictability(margin):
    """Spec § 8: at a fixed seed, norm R² (with intercept) rises with the shared cosine."""
    scores = []
    for rho in (0.0, 0.6):
        setup = WorldSetup(world=DarkMatterConfig(d=16, n_features=256, shared_cosine=rho),
                           n_train=4000, n_analysis=4000, n_steps=150)
        train_set, analysis = world_samples(setup)
        sae = train_sae(train_set.X, width=32, k=4, n_steps=150, batch_size=512)
        scores.append(analyse_sae(sae, analysis).norm_r2_intercept)
    assert scores[1] > scores[0] + margin
