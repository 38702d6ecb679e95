"""The transplant's settings as one dataclass, validated on creation, JSON round-trip."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from mplib.transplant.approx import KNN_METRICS, METHODS, WEIGHT_SCHEMES
from mplib.transplant.vocab import RULES

__all__ = ["MATCH_SCOPES", "TransplantConfig"]

#: Values of ``byte_match`` / ``prefix_match``: which matrices use the optional copies. Each
#: applies to the matrix it names (mergekit's command line swaps ``embed`` and ``lm_head``).
MATCH_SCOPES = ("no", "embed", "lm_head", "both")
DIGIT_RULES = ("single", "group3", "donor")


@dataclass
class TransplantConfig:
    """How :func:`~mplib.transplant.transplant` builds the new matrices.

    Defaults follow mergekit's command line (``--approximation-method omp --k 64``), which the
    tool's documentation recommends; the method is always named explicitly in results.

    Examples
    --------
    >>> cfg = TransplantConfig(method="omp", k=8)
    >>> TransplantConfig.from_json(cfg.to_json()) == cfg
    True
    """

    method: str = "omp"
    """Approximation of new rows, one of :data:`mplib.transplant.approx.METHODS`."""
    k: int = 64
    """OMP steps per new token (common_interpolation: neighbours)."""
    batch_size: int = 512
    """New tokens per batch (memory only; rows do not depend on it)."""
    center: bool = False
    """Centred OMP (our labelled variant for donors without an output head)."""
    normalize_selection: bool = False
    """OMP ablation: select by the correlation divided by the atom norm, ``|<r, a>| / ||a||``."""
    strict: bool = True
    """Refuse k >= D_d (mergekit mode); False stops targets cleanly on dependent atoms."""
    weight_scheme: str = "distance_proportional"
    """common_interpolation weights: distance_proportional, barycentric or least_squares."""
    knn_metric: str = "euclidean"
    """common_interpolation distance: euclidean or cosine."""
    knn_k: int = 32
    """Neighbours of knn_softmax."""
    temperature: float = 0.1
    """Softmax temperature of knn_softmax."""
    affine: bool = True
    """linear: fit a bias too."""
    subword_method: str = "mean"
    """Recorded for parity with mergekit's options; the subword method is not implemented."""
    byte_match: str = "no"
    """Copy the base row of a new token's single-byte counterpart: no, embed, lm_head, both."""
    prefix_match: str = "no"
    """Copy the base row of a new token's longest proper prefix: no, embed, lm_head, both."""
    magikarp: bool = False
    """Whether the caller applied the well-trained-token filter in match_vocabularies
    (recorded; the masks are passed there)."""
    new_vocab_noise: float = 0.0
    """Std of Gaussian noise added to the approximated rows only (0: none)."""
    new_vocab_scale: float = 1.0
    """Factor applied to the approximated rows only, after the noise."""
    rule: str = "auto"
    """Vocabulary normalisation rule (see normalize_vocabulary)."""
    digit_rule: str = "donor"
    """Digit segmentation of the donor tokenizer: single, group3 or donor (as it comes);
    recorded for the numeric experiments, which build the donor tokenizer."""
    seed: int = 0
    """Seed of every random choice (noise, random baselines)."""

    def __post_init__(self) -> None:
        """Validate every field; raise ValueError/TypeError naming the field."""
        def choice(name: str, options: tuple) -> None:
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {options}, got {getattr(self, name)!r}")

        def integer(name: str, lo: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int, got {v!r}")
            if v < lo:
                raise ValueError(f"{name} must be >= {lo}, got {v}")

        choice("method", METHODS)
        choice("weight_scheme", WEIGHT_SCHEMES)
        choice("knn_metric", KNN_METRICS)
        choice("subword_method", ("mean", "sum", "weighted_mean", "first_last"))
        choice("byte_match", MATCH_SCOPES)
        choice("prefix_match", MATCH_SCOPES)
        choice("rule", RULES)
        choice("digit_rule", DIGIT_RULES)
        integer("k", 1)
        integer("batch_size", 1)
        integer("knn_k", 1)
        integer("seed", 0)
        for name in ("center", "normalize_selection", "strict", "affine", "magikarp"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name, lo in (("temperature", 0.0), ("new_vocab_noise", 0.0),
                         ("new_vocab_scale", None)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                raise TypeError(f"{name} must be a number, got {v!r}")
            if lo is not None and (v < lo or (name == "temperature" and v == 0)):
                raise ValueError(f"{name} must be {'>' if name == 'temperature' else '>='} "
                                 f"{lo}, got {v}")

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Return the config as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransplantConfig:
        """Build from a dict, refusing unknown keys."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TransplantConfig fields: {unknown}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> TransplantConfig:
        """Build from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))
