"""A cached, sharded store of model activations on text, and a fast shuffled batch reader."""

from mplib.activations.extract import STORE_FORMAT, extract_activations
from mplib.activations.store import ActivationStore, Standardization, StoreBatches

__all__ = [
    "STORE_FORMAT",
    "ActivationStore",
    "Standardization",
    "StoreBatches",
    "extract_activations",
]
