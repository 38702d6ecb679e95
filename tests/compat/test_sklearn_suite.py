"""scikit-learn's own tests, run against :mod:`mplib.compat.sklearn` by swapping the import.

The test files are read from the installed scikit-learn: all of
``sklearn/linear_model/tests/test_omp.py`` and the OMP-related tests of
``sklearn/decomposition/tests/test_dict_learning.py``. Each file is executed into its own
namespace, the names under test are rebound to ours, and the selected test functions are
exposed here for pytest to collect. scikit-learn's suite does not turn ``RuntimeWarning`` into
errors (its tests check the early-stop warning with ``pytest.warns``), so neither do we here;
nor its ``ConvergenceWarning`` from the Lasso solvers (scikit-learn's code, not ours).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sklearn

import mplib.compat.sklearn as ours

ROOT = Path(sklearn.__file__).parent
OMP_TESTS = ROOT / "linear_model" / "tests" / "test_omp.py"
DICT_TESTS = ROOT / "decomposition" / "tests" / "test_dict_learning.py"

# The dict-learning tests that exercise OMP semantics.
DICT_SELECTED = [
    "test_sparse_encode_shapes_omp",
    "test_sparse_encode_input",
    "test_sparse_encode_error_default_sparsity",
    "test_sparse_coder_dtype_match",
    "test_dict_learning_nonzero_coefs",
    "test_sparse_encode_unavailable_positivity",
    "test_dictionary_learning_dtype_match",
]
OMP_NAMES = ["OrthogonalMatchingPursuit", "OrthogonalMatchingPursuitCV", "orthogonal_mp",
             "orthogonal_mp_gram"]  # fmt: skip
DICT_NAMES = ["DictionaryLearning", "MiniBatchDictionaryLearning", "SparseCoder", "sparse_encode"]

pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]


def _load(path: Path, names: list[str]) -> dict:
    """Execute a scikit-learn test file and rebind ``names`` to mplib's drop-in."""
    if not path.exists():  # pragma: no cover - wheels without tests
        return {}
    ns: dict = {"__name__": __name__, "__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    for name in names:
        assert name in ns, f"{path.name} no longer imports {name}"
        ns[name] = getattr(ours, name)
    return ns


_omp = _load(OMP_TESTS, OMP_NAMES)
_dict = _load(DICT_TESTS, DICT_NAMES)
OMP_SELECTED = sorted(k for k in _omp if k.startswith("test_"))
for _name in OMP_SELECTED:
    globals()[_name] = _omp[_name]
for _name in DICT_SELECTED:
    if _name in _dict:
        globals()[_name] = _dict[_name]


def test_suite_is_loaded_and_swapped():
    """Guard: the suite exists, has its tests, and they see our functions, not sklearn's."""
    if not OMP_TESTS.exists():
        pytest.skip("this scikit-learn install ships without its tests")
    assert len(OMP_SELECTED) >= 18
    assert set(DICT_SELECTED) <= set(_dict)
    for name in OMP_NAMES:
        assert _omp[name] is getattr(ours, name)
        assert _omp["test_omp_cv"].__globals__[name] is getattr(ours, name)
    for name in DICT_NAMES:
        assert _dict["test_sparse_encode_input"].__globals__[name] is getattr(ours, name)
