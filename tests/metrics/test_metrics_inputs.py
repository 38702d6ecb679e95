"""Every metric: input validation naming the parameter, numpy/torch parity, doctests."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch

import mplib.metrics as M

F = np.linalg.qr(np.random.default_rng(0).normal(size=(6, 6)))[0]
Z = np.abs(np.random.default_rng(1).normal(size=(30, 6))) * (
    np.random.default_rng(2).random((30, 6)) < 0.5
)

# (function, positional inputs, keyword options, index of the input to corrupt, its name)
CASES = [
    (M.r2_score, (Z, Z + 0.1), {}, 0, "X"),
    (M.fvu, (Z, Z + 0.1), {}, 1, "X_hat"),
    (M.nmse, (Z + 1, Z), {}, 0, "X"),
    (M.l0, (Z,), {}, 0, "codes"),
    (M.dead_fraction, (Z,), {}, 0, "codes"),
    (M.effective_rank, (Z,), {}, 0, "codes"),
    (M.babel, (F,), {}, 0, "dictionary"),
    (M.babel_coselected, (F, Z), {}, 1, "codes"),
    (M.coherence_histogram, (F,), {}, 0, "dictionary"),
    (M.hungarian_alignment, (F, F), {}, 1, "features"),
    (M.flat_hierarchical_mse, (F, F), {"parents": [-1, 0, 0, -1, 3, 3]}, 0, "atoms"),
    (M.absorption_score, (F, F), {"parents": [-1, 0, 0, -1, 3, 3]}, 1, "features"),
    (M.modality_score, (Z, Z), {}, 1, "text_codes"),
]
IDS = [c[0].__name__ for c in CASES]


def _result_arrays(res):
    if isinstance(res, float | np.ndarray):
        return [np.asarray(res)]
    out = []
    for v in vars(res).values():
        if isinstance(v, float | np.ndarray) and np.asarray(v).dtype.kind in "fiub":
            out.append(np.asarray(v))
    return out


@pytest.mark.parametrize(("fn", "args", "kw", "pos", "name"), CASES, ids=IDS)
def test_non_finite_input_raises_naming_it(fn, args, kw, pos, name):
    bad = list(args)
    bad[pos] = args[pos].copy()
    bad[pos][0, 0] = np.nan
    with pytest.raises(ValueError, match=f"{name} must be finite"):
        fn(*bad, **kw)


@pytest.mark.parametrize(("fn", "args", "kw", "pos", "name"), CASES, ids=IDS)
def test_wrong_rank_or_type_raises_naming_it(fn, args, kw, pos, name):
    bad = list(args)
    bad[pos] = args[pos][0]
    with pytest.raises(ValueError, match=name):
        fn(*bad, **kw)
    bad[pos] = "not an array"
    with pytest.raises(TypeError, match=name):
        fn(*bad, **kw)


@pytest.mark.parametrize(("fn", "args", "kw", "pos", "name"), CASES, ids=IDS)
def test_torch_and_read_only_numpy_agree(fn, args, kw, pos, name, device):
    frozen = []
    for a in args:
        a = a.copy()
        a.setflags(write=False)
        frozen.append(a)
    ref = fn(*frozen, **kw)
    got = fn(*(torch.tensor(a, device=device, requires_grad=True) for a in args), **kw)
    for r, g in zip(_result_arrays(ref), _result_arrays(got)):
        assert isinstance(g, np.ndarray | float)
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


def test_bad_scalar_options():
    with pytest.raises(ValueError, match="tol"):
        M.l0(Z, tol=-0.1)
    with pytest.raises(TypeError, match="bins"):
        M.coherence_histogram(F, bins=2.5)
    with pytest.raises(ValueError, match="max_pairs"):
        M.pairwise_cosines(F, max_pairs=0)
    with pytest.raises(TypeError, match="seed"):
        M.pairwise_cosines(F, max_pairs=3, seed=None)
    with pytest.raises(TypeError, match="codes"):
        M.l0(np.array([[1 + 1j]]))


def test_public_names():
    required = {
        "r2_score", "fvu", "nmse", "l0", "dead_fraction", "hungarian_alignment",
        "flat_hierarchical_mse", "absorption_score", "babel", "babel_coselected",
        "effective_rank", "coherence_histogram", "modality_score",
    }  # fmt: skip
    assert required <= set(M.__all__)
    assert all(hasattr(M, name) for name in M.__all__)


@pytest.mark.parametrize(
    "module", ["reconstruction", "sparsity", "geometry", "alignment", "recovery", "modality"]
)
def test_docstring_examples(module):
    mod = importlib.import_module(f"mplib.metrics.{module}")
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
