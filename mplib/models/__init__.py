"""Real models, loaded offline from installed packages, and models trained in the project.

:mod:`mplib.models.lm` — SmolLM2-135M and MiniLM, activation sites, early-stopped forwards and
hooks that read or replace a site; :mod:`mplib.models.joint` — a small CLIP-style image–text
model of handwritten digits.
"""

from mplib.models.joint import JointConfig, JointModel, JointReport, evaluate_joint, train_joint
from mplib.models.lm import (
    CausalLM,
    Encoder,
    forward_to,
    load_minilm,
    load_smollm2,
    parse_site,
    read_site,
    replace_site,
)

__all__ = [
    "CausalLM",
    "Encoder",
    "JointConfig",
    "JointModel",
    "JointReport",
    "evaluate_joint",
    "forward_to",
    "load_minilm",
    "load_smollm2",
    "parse_site",
    "read_site",
    "replace_site",
    "train_joint",
]
