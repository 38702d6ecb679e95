"""scikit-learn drop-in: OMP functions and estimators backed by mplib's batched solvers.

Swap the import and nothing else changes::

    from mplib.compat.sklearn import OrthogonalMatchingPursuit, orthogonal_mp, sparse_encode

Signatures, shapes (``X`` (n_samples, n_features) with atoms as **columns** for the
``linear_model`` side; atoms as rows for the ``decomposition`` side), defaults, the early-stop
``RuntimeWarning`` text and the results follow scikit-learn 1.9's Gram-path semantics; all
targets or samples run at once on :func:`mplib.pursuit._omp_gram.omp_gram` instead of a Python
loop over them. The estimators subclass scikit-learn's own classes and replace ``fit`` (or the
OMP transform) only.

Deliberate deviations (each documented where it applies):

* ``orthogonal_mp_gram``'s default sparsity is ``max(int(0.1 · n_features), 1)``, as
  ``orthogonal_mp``'s (scikit-learn raises there for fewer than 10 features).
* ``return_path`` with targets that stop at different steps: every target's path has the
  longest length, a target that stopped earlier repeating its final solution.
* The early-stop warning is raised once per call, not once per target.
* Inputs are never modified, whatever ``copy_*`` says; sparse matrices are not accepted.
* ``sparse_encode``/``SparseCoder`` with OMP: a budget above ``n_components`` raises a
  ``ValueError`` naming the parameter (scikit-learn crashes inside OMP:
  scikit-learn/scikit-learn#33454).
* A negligible correlation is judged relative to each signal's largest initial correlation
  (``α_j² <= eps · max α⁰²``) rather than scikit-learn's absolute ``α_j² < eps``, and a
  dependent atom relative to its squared norm (``ρ² <= eps · G_jj``); identical on
  unit-scale data, scale-free otherwise.
"""

from mplib.compat._decomposition import (
    DictionaryLearning,
    MiniBatchDictionaryLearning,
    SparseCoder,
    sparse_encode,
)
from mplib.compat._estimators import OrthogonalMatchingPursuit, OrthogonalMatchingPursuitCV
from mplib.compat._omp import PREMATURE, orthogonal_mp, orthogonal_mp_gram

__all__ = [
    "PREMATURE",
    "DictionaryLearning",
    "MiniBatchDictionaryLearning",
    "OrthogonalMatchingPursuit",
    "OrthogonalMatchingPursuitCV",
    "SparseCoder",
    "orthogonal_mp",
    "orthogonal_mp_gram",
    "sparse_encode",
]
