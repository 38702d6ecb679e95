"""Metrics of the papers: reconstruction, sparsity, recovery of a ground truth, geometry.

Every function accepts numpy arrays or torch tensors (any device), with samples and atoms as
rows (``X ≈ Z @ D``) and optional leading "runs" dimensions (e.g. 200 toy SAEs evaluated at
once: dictionaries of shape (200, 20, 20)); it returns Python floats, numpy arrays or a named
result. Definitions follow the paper; where the paper's formula is not
recoverable the docstring says "our definition".

========================== =================================================================
reconstruction             :func:`r2_score`, :func:`fvu`, :func:`nmse`,
                           :func:`reconstruction_metrics`
sparsity                   :func:`l0`, :func:`dead_fraction`, :func:`dead_latents`,
                           :func:`effective_rank`
alignment                  :func:`hungarian_alignment`, :func:`align_dictionary`
recovery (toy hierarchy)   :func:`flat_hierarchical_mse`, :func:`absorption_score`,
                           :func:`hierarchy_pair_masks`
geometry                   :func:`babel`, :func:`babel_coselected`,
                           :func:`coherence_histogram`, :func:`pairwise_cosines`
modality                   :func:`modality_score`, :func:`modality_gap`
dark matter                :func:`r2_per_dim`, :func:`r2_pooled`, :func:`normalized_mse`,
                           :func:`fit_error_map`, :func:`decompose_error`,
                           :func:`per_token_scaling`, :func:`fit_power_law`
========================== =================================================================
"""

from mplib.metrics.alignment import AlignmentResult, align_dictionary, hungarian_alignment
from mplib.metrics.dark_matter import (
    ErrorMapFit,
    ErrorParts,
    PerTokenScaling,
    PowerLaw,
    decompose_error,
    fit_error_map,
    fit_power_law,
    normalized_mse,
    per_token_scaling,
    r2_per_dim,
    r2_pooled,
)
from mplib.metrics.geometry import (
    CoherenceHistogram,
    CoselectedBabel,
    babel,
    babel_coselected,
    coherence_histogram,
    pairwise_cosines,
)
from mplib.metrics.modality import ModalityScores, modality_gap, modality_score
from mplib.metrics.reconstruction import (
    ReconstructionMetrics,
    fvu,
    nmse,
    r2_score,
    reconstruction_metrics,
)
from mplib.metrics.recovery import (
    AbsorptionResult,
    FlatHierarchicalMSE,
    PairMasks,
    absorption_score,
    flat_hierarchical_mse,
    hierarchy_pair_masks,
)
from mplib.metrics.sparsity import dead_fraction, dead_latents, effective_rank, l0

__all__ = [
    "AbsorptionResult",
    "AlignmentResult",
    "CoherenceHistogram",
    "CoselectedBabel",
    "ErrorMapFit",
    "ErrorParts",
    "FlatHierarchicalMSE",
    "ModalityScores",
    "PairMasks",
    "PerTokenScaling",
    "PowerLaw",
    "ReconstructionMetrics",
    "absorption_score",
    "align_dictionary",
    "babel",
    "babel_coselected",
    "coherence_histogram",
    "dead_fraction",
    "dead_latents",
    "decompose_error",
    "effective_rank",
    "fit_error_map",
    "fit_power_law",
    "flat_hierarchical_mse",
    "fvu",
    "hierarchy_pair_masks",
    "hungarian_alignment",
    "l0",
    "modality_gap",
    "modality_score",
    "nmse",
    "normalized_mse",
    "pairwise_cosines",
    "per_token_scaling",
    "r2_per_dim",
    "r2_pooled",
    "r2_score",
    "reconstruction_metrics",
]
