"""Build the new embedding matrices of a transplanted model (copies, approximations, zeros).

For each matrix it rebuilds (Goddard & Fernandes Neto, arXiv 2506.06607, 2025; mergekit's
``tokensurgeon``): donor tokens also in the base get the base row verbatim, every other donor
token gets an approximation fitted in donor space from that matrix's own donor rows, junk ids
stay zero. Input and output matrices are built independently:

=========  ========  ==================  ==============================================
base       donor     matrices rebuilt    donor source of each
=========  ========  ==================  ==============================================
untied     untied    embed and lm_head   donor embed → embed; donor lm_head → lm_head
untied     tied      embed and lm_head   donor embed → embed; its tied alias → lm_head
untied     no head   embed and lm_head   donor embed → both (an input-only donor)
tied       any       embed only          donor embed → embed (the tie makes it the head)
=========  ========  ==================  ==============================================
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

from mplib.repro import derive_seed, torch_generator
from mplib.transplant.approx import Approximation, _tensor, approximate_rows
from mplib.transplant.config import TransplantConfig
from mplib.transplant.match import VocabMatch

__all__ = ["TransplantResult", "transplant"]


class TransplantResult(NamedTuple):
    """Result of :func:`transplant` (numpy arrays or tensors, like ``base_embed``)."""

    embed: Any
    """New input embedding matrix (n_rows, D_b), the base's dtype."""
    lm_head: Any
    """New output matrix (n_rows, D_b); None for a tied base (``embed`` plays both roles)."""
    report: dict
    """Counts and settings: method, k, tied, sources, anchors, copies, new, junk, per-matrix
    coefficient-sum statistics (plain JSON types)."""
    approximations: dict
    """Matrix name (``"embed"``, ``"lm_head"``) -> :class:`Approximation` of its new rows, in
    the order of ``new_ids[name]``."""
    new_ids: dict
    """Matrix name -> donor ids whose rows were approximated (int64 array)."""


def _scope(value: str, name: str) -> bool:
    return value == "both" or value == name


def _stats(x: np.ndarray) -> dict:
    if x.size == 0:
        return {"n": 0}
    q = np.quantile(x, [0.05, 0.5, 0.95])
    return {"n": int(x.size), "mean": float(x.mean()), "std": float(x.std()),
            "q05": float(q[0]), "median": float(q[1]), "q95": float(q[2])}


def _build(base: torch.Tensor, donor: torch.Tensor, match: VocabMatch, cfg: TransplantConfig,
           name: str) -> tuple[torch.Tensor, Approximation, np.ndarray, dict]:
    out = base.new_zeros(match.n_rows, base.shape[1])
    ex = torch.from_numpy(match.exact)
    out[ex[:, 0]] = base[ex[:, 1]]  # bit-identical copies
    new = match.new
    info = {"n_exact": int(len(ex)), "n_byte_copies": 0, "n_prefix_copies": 0}
    copied: list[int] = []
    for field, scope in (("byte_pairs", cfg.byte_match), ("prefix_pairs", cfg.prefix_match)):
        pairs = getattr(match, field)
        if _scope(scope, name) and len(pairs):
            pairs = pairs[np.isin(pairs[:, 0], new) & ~np.isin(pairs[:, 0], copied)]
            p = torch.from_numpy(pairs)
            out[p[:, 0]] = base[p[:, 1]]
            copied.extend(pairs[:, 0].tolist())
            info[f"n_{field.split('_')[0]}_copies"] = int(len(pairs))
    new = np.setdiff1d(new, np.asarray(copied, dtype=np.int64))
    anchors = torch.from_numpy(match.anchors)
    seed = derive_seed(cfg.seed, "transplant", name)
    appr = approximate_rows(
        donor[torch.from_numpy(new)], donor[anchors[:, 0]], base[anchors[:, 1]],
        method=cfg.method, k=cfg.k, center=cfg.center,
        normalize_selection=cfg.normalize_selection, strict=cfg.strict,
        batch_size=cfg.batch_size, seed=seed, base_matrix=base, knn_k=cfg.knn_k,
        temperature=cfg.temperature, knn_metric=cfg.knn_metric,
        weight_scheme=cfg.weight_scheme, affine=cfg.affine,
    )
    rows = appr.rows
    if cfg.new_vocab_noise:
        gen = torch_generator(derive_seed(cfg.seed, "noise", name))
        rows = rows + cfg.new_vocab_noise * torch.randn(rows.shape, generator=gen,
                                                        dtype=rows.dtype)
    if cfg.new_vocab_scale != 1.0:
        rows = rows * cfg.new_vocab_scale
    if len(new):
        out[torch.from_numpy(new)] = rows.to(base.dtype)
    if len(match.junk):
        out[torch.from_numpy(match.junk)] = 0
    info["n_new"] = int(len(new))
    if appr.coefs is not None:
        info["coef_sum"] = _stats(appr.coefs.sum(1).double().numpy())
    if appr.n_iter is not None:
        info["n_stopped_early"] = int((appr.n_iter < cfg.k).sum())
    return out, appr, new, info


def _check_ids(match: VocabMatch, base: torch.Tensor, donor: torch.Tensor, name: str) -> None:
    donor_ids = [match.new, match.anchors[:, 0], match.exact[:, 0]]
    base_ids = [match.anchors[:, 1], match.exact[:, 1]]
    d_max = max((int(a.max()) for a in donor_ids if a.size), default=-1)
    b_max = max((int(a.max()) for a in base_ids if a.size), default=-1)
    if d_max >= donor.shape[0]:
        raise ValueError(f"{name}: match refers to donor id {d_max} but the donor matrix has "
                         f"{donor.shape[0]} rows (match_vocabularies(donor_rows=...))")
    if b_max >= base.shape[0]:
        raise ValueError(f"{name}: match refers to base id {b_max} but the base matrix has "
                         f"{base.shape[0]} rows (match_vocabularies(base_rows=...))")
    if max(d_max, int(match.junk.max()) if match.junk.size else -1) >= match.n_rows:
        raise ValueError(f"match.n_rows ({match.n_rows}) is below the largest donor id")


def transplant(base_embed: Any, base_head: Any, donor_embed: Any, donor_head: Any,
               match: VocabMatch, config: TransplantConfig | None = None) -> TransplantResult:
    """Build the base model's new embedding matrices for the donor's vocabulary.

    Parameters
    ----------
    base_embed : ndarray or Tensor of shape (V_b, D_b)
        The base model's input embeddings.
    base_head : ndarray or Tensor of shape (V_b, D_b) or None
        The base model's output matrix; None when the base ties its embeddings (then one
        matrix is built and plays both roles).
    donor_embed : ndarray or Tensor of shape (V_d, D_d)
        The donor's input embeddings.
    donor_head : ndarray or Tensor of shape (V_d, D_d) or None
        The donor's output matrix; None for a tied donor (its embeddings are the alias) or an
        input-only donor such as an encoder.
    match : VocabMatch
        From :func:`~mplib.transplant.match_vocabularies` with these matrices' row counts.
    config : TransplantConfig, optional
        Method and options (default ``TransplantConfig()``: OMP, k = 64).

    Returns
    -------
    TransplantResult

    Raises
    ------
    ValueError
        Width mismatches, ids outside the matrices, or any error of
        :func:`~mplib.transplant.approximate_rows` (e.g. ``k >= D_d``).
    TypeError
        A ``config`` or ``match`` of the wrong type.

    Examples
    --------
    >>> import numpy as np
    >>> from mplib.transplant import match_vocabularies, normalize_vocabulary
    >>> b = normalize_vocabulary({"Ġa": 0, "Ġb": 1, "Ġc": 2})
    >>> d = normalize_vocabulary({"Ġb": 0, "Ġab": 1, "Ġa": 2})
    >>> m = match_vocabularies(b, d, base_rows=3, donor_rows=3)
    >>> Eb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> Ed = np.array([[0.0, 2.0], [3.0, 1.0], [2.0, 0.0]])
    >>> res = transplant(Eb, None, Ed, None, m, TransplantConfig(k=1))
    >>> res.embed.tolist(), res.lm_head
    ([[0.0, 1.0], [1.5, 0.0], [1.0, 0.0]], None)
    """
    cfg = TransplantConfig() if config is None else config
    if not isinstance(cfg, TransplantConfig):
        raise TypeError(f"config must be a TransplantConfig, got {type(config).__name__}")
    if not isinstance(match, VocabMatch):
        raise TypeError(f"match must be a VocabMatch, got {type(match).__name__}")
    Eb, was_numpy = _tensor(base_embed, "base_embed")
    Ed, _ = _tensor(donor_embed, "donor_embed")
    Hb = None if base_head is None else _tensor(base_head, "base_head")[0]
    Hd = None if donor_head is None else _tensor(donor_head, "donor_head")[0]
    if Hb is not None and Hb.shape[1] != Eb.shape[1]:
        raise ValueError(f"base_head must have the width of base_embed ({Eb.shape[1]}), got "
                         f"{Hb.shape[1]}")
    if Hd is not None and Hd.shape[1] != Ed.shape[1]:
        raise ValueError(f"donor_head must have the width of donor_embed ({Ed.shape[1]}), got "
                         f"{Hd.shape[1]}")
    plan = [("embed", Eb, Ed, "donor embed")]
    if Hb is not None:
        plan.append(("lm_head", Hb, Ed if Hd is None else Hd,
                     "donor embed (no separate donor head)" if Hd is None else "donor lm_head"))
    mats, apprs, news, infos = {}, {}, {}, {}
    for name, base, donor, _ in plan:
        _check_ids(match, base, donor, name)
        mats[name], apprs[name], news[name], infos[name] = _build(base, donor, match, cfg, name)
    report = {
        "method": cfg.method, "k": cfg.k, "center": cfg.center, "tied_base": Hb is None,
        "sources": {name: src for name, _, _, src in plan},
        "n_rows": int(match.n_rows), "n_anchors": int(len(match.anchors)),
        "n_junk": int(len(match.junk)), "n_hidden": int(len(match.hidden)),
        "n_collisions": int(match.n_collisions), "matrices": infos, "config": cfg.to_dict(),
    }
    embed, head = mats["embed"], mats.get("lm_head")
    if was_numpy:
        embed = embed.numpy()
        head = None if head is None else head.numpy()
    return TransplantResult(embed, head, report, apprs, news)
