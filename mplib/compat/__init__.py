"""Drop-in replacements for other libraries' APIs, backed by :mod:`mplib.pursuit`.

:mod:`mplib.compat.sklearn` mirrors scikit-learn's ``orthogonal_mp``, ``orthogonal_mp_gram``,
``OrthogonalMatchingPursuit(CV)``, ``sparse_encode`` and the sparse-coding estimators. It is
not imported here, so ``import mplib.compat`` stays light; import the submodule itself.
"""

__all__ = ["sklearn"]
