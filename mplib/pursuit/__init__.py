"""Pursuit solvers: MP, OMP, gradient pursuit and ACGP (batched torch; numpy references).

:func:`sparse_encode` is the entry point (numpy in → numpy out, torch in → torch out);
:mod:`mplib.pursuit.reference` holds plain numpy versions, one signal at a time, that read like
the papers; :func:`mp_loop` is the differentiable matching-pursuit kernel that the MP-SAE uses.
:class:`PursuitCoder` (a scikit-learn transformer) loads on first use, so importing the solvers
never imports scikit-learn.
"""

from typing import Any

from mplib.pursuit._mp import MPTrace, dense_codes, mp_loop
from mplib.pursuit._sae_gp import SAEPursuitResult, sae_gradient_pursuit
from mplib.pursuit.api import PursuitResult, decode_sparse, sparse_encode
from mplib.pursuit.nnls import NNLSResult, nnls

__all__ = [
    "MPTrace",
    "NNLSResult",
    "PursuitCoder",
    "PursuitResult",
    "SAEPursuitResult",
    "decode_sparse",
    "dense_codes",
    "mp_loop",
    "nnls",
    "sae_gradient_pursuit",
    "sparse_encode",
]


def __getattr__(name: str) -> Any:
    if name == "PursuitCoder":  # scikit-learn is imported only by who asks for the estimator
        from mplib.pursuit.coder import PursuitCoder

        return PursuitCoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
