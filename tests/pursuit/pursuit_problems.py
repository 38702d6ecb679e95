"""Small pursuit problems with known ground truth (seeded), shared by the pursuit tests."""

from __future__ import annotations

import numpy as np


def unit_dictionary(seed: int, n_atoms: int, n_features: int) -> np.ndarray:
    """Gaussian atoms normalized to unit norm, as rows (N, d)."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_atoms, n_features))
    return D / np.linalg.norm(D, axis=1, keepdims=True)


def sparse_signals(seed: int, D: np.ndarray, n_samples: int, k: int, positive: bool = False):
    """Exactly k-sparse signals X = Z @ D with coefficients bounded away from 0; returns (X, Z)."""
    rng = np.random.default_rng(seed)
    n_atoms = D.shape[0]
    Z = np.zeros((n_samples, n_atoms))
    for i in range(n_samples):
        idx = rng.choice(n_atoms, size=k, replace=False)
        mag = rng.uniform(1.0, 2.0, size=k)
        Z[i, idx] = mag if positive else mag * rng.choice([-1.0, 1.0], size=k)
    return Z @ D, Z


