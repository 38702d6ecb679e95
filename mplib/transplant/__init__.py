"""Tokenizer transplantation by orthogonal matching pursuit, its baselines and its scoring.

Goddard & Fernandes Neto, "Training-Free Tokenizer Transplantation via Orthogonal Matching
Pursuit", arXiv 2506.06607, 2025 (mergekit's ``tokensurgeon``). A base model gets a donor's
tokenizer: the vocabularies are normalised into comparable keys
(:func:`normalize_vocabulary`), matched (:func:`match_vocabularies`: anchors = shared tokens),
shared rows are copied and every new token's row is approximated in donor space and
transferred (:func:`approximate_rows`: OMP over the anchors' donor rows, the same coefficients
on their base rows), matrix by matrix (:func:`transplant`). :mod:`mplib.transplant.io` reads and
writes Hugging Face model folders (``python -m mplib transplant``).
"""

from mplib.transplant.approx import METHODS, Approximation, approximate_rows
from mplib.transplant.config import TransplantConfig
from mplib.transplant.match import VocabMatch, match_vocabularies
from mplib.transplant.surgery import TransplantResult, transplant
from mplib.transplant.vocab import (
    BYTES,
    SPECIAL,
    WORD_START,
    NormalizedVocab,
    normalize_vocabulary,
)

__all__ = [
    "BYTES",
    "METHODS",
    "SPECIAL",
    "WORD_START",
    "Approximation",
    "NormalizedVocab",
    "TransplantConfig",
    "TransplantResult",
    "VocabMatch",
    "approximate_rows",
    "match_vocabularies",
    "normalize_vocabulary",
    "transplant",
]

try:  # the scoring module lands separately; import it once it exists
    from mplib.transplant.score import TextScore, score_text  # noqa: F401
except ImportError:  # pragma: no cover - only before score.py exists
    pass
else:
    __all__ += ["TextScore", "score_text"]
