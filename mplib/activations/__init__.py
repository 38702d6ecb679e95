"""A cached, sharded store of model activations on text, and a fast shuffled batch reader."""

from mplib.activations.extract import STORE_FORMAT, extract_activations
from mplib.activations.presets import LM_STORE_WINDOW, lm_store
from mplib.activations.store import ActivationStore, Standardization, StoreBatches

__all__ = [
    "LM_STORE_WINDOW",
    "STORE_FORMAT",
    "ActivationStore",
    "Standardization",
    "StoreBatches",
    "extract_activations",
    "lm_store",
]
