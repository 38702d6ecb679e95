"""mplib: reproducible pursuit-based sparse coding.

Batched matching pursuit, orthogonal matching pursuit and gradient pursuits for numpy and
torch (:mod:`mplib.pursuit`), sparse autoencoders (:mod:`mplib.sae`), synthetic data with known
ground truth (:mod:`mplib.datasets`), the metrics of the papers (:mod:`mplib.metrics`) and
plotting helpers (:mod:`mplib.plotting`).
"""

from mplib.repro import show_versions

__version__ = "0.1.0"
__all__ = ["__version__", "show_versions"]
