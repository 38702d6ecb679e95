"""The project's one SmolLM2 activation store, shared by every language-model figure.

The MP-SAE language-model figures and the dark-matter figures read the same text through the
same model and windows, so they share one cache: SmolLM2-135M-Instruct (dequantised from its
4-bit GGUF), gensim's Wikipedia articles followed by its news text (articles of at least 200
words, in file order), no BOS token, consecutive 256-token windows, 8 windows per forward pass,
and the first ``n_tokens`` tokens of that stream. The store keeps every position; each
analysis drops its own (position 0 for the MP-SAE figures, the first 16 for dark matter).
"""

from __future__ import annotations

from pathlib import Path

from mplib.activations.extract import extract_activations
from mplib.activations.store import ActivationStore

__all__ = ["LM_STORE_WINDOW", "lm_store"]

LM_STORE_WINDOW = 256
"""Tokens per window of the shared store."""


def lm_store(
    n_tokens: int,
    *,
    site: str = "resid.15",
    splits: dict[str, float] | None = None,
    split_seed: int = 0,
    lm=None,
    progress: bool = False,
    root: str | Path | None = None,
) -> ActivationStore:
    """Return (computing once) SmolLM2's activations at ``site`` on the first ``n_tokens`` tokens.

    Parameters
    ----------
    n_tokens : int
        Tokens of the text stream to keep (>= 1); part of the cache key, so figures that ask
        for the same number share one store.
    site : str, default="resid.15"
        ``"resid.b"`` is ``hidden_states[b]`` (the residual stream after block ``b`` of 30;
        block 15 is the output of ``model.model.layers[14]``), ``"mlp.b"`` / ``"attn.b"`` the
        outputs of block ``b``'s MLP / attention sub-layer (see :func:`mplib.models.parse_site`).
    splits : dict of str to float, optional
        Token fractions per split, assigned by whole document (default 90 % "train",
        10 % "eval"); see :class:`ActivationStore`.
    split_seed : int, default=0
    lm : CausalLM, optional
        An already loaded :func:`mplib.models.load_smollm2` (saves its load).
    progress : bool, default=False
    root : path, optional
        Parent folder of the store (default ``data/cache/activations/``).

    Returns
    -------
    ActivationStore
    """
    from mplib.datasets import load_documents
    from mplib.models import load_smollm2

    if isinstance(n_tokens, bool) or not isinstance(n_tokens, int) or n_tokens < 1:
        raise ValueError(f"n_tokens must be a positive int, got {n_tokens!r}")
    if lm is None:
        lm = load_smollm2()
    store = extract_activations(lm, load_documents("all"), site=site, window=LM_STORE_WINDOW,
                                batch_size=8, max_tokens=n_tokens, progress=progress,
                                root=root)
    if splits is None and split_seed == 0:
        return store
    return ActivationStore(store.path, splits=splits, split_seed=split_seed, verify=False)
