"""Batched matching pursuit kernel (torch), differentiable, shared by solvers and MP-SAE.

One kernel serves :func:`mplib.pursuit.sparse_encode` (``algorithm="mp"``) and the MP-SAE
encoder (:mod:`mplib.sae`), so the autoencoder's encoder *is* the pursuit code.

Per step, for every signal still running::

    c = R Dᵀ                 (no grad; chunked over atoms, running max/argmax)
    j = argmax score(c)      score: |c| ("abs"), c ("signed"), c with stop at c <= 0 ("positive")
    d = D[j]                 (gathered with grad: O(B·d) saved per step, never O(B·N))
    a = <r, d> / ||d||²      ("projection") or <r, d> ("correlation": the MP-SAE toy)
    r -= a d ;  record (j, a)

Leading dimensions batch independent problems (e.g. many SAEs trained at once):
``X`` (..., B, d) and ``D`` (..., N, d) broadcast over ``...``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["MPTrace", "dense_codes", "mp_loop"]

SELECTIONS = ("abs", "signed", "positive")
COEFFICIENTS = ("projection", "correlation")


class MPTrace(NamedTuple):
    """What :func:`mp_loop` returns (all shapes with the leading batch dims ``...``)."""

    indices: torch.Tensor
    """Selected atom per step, (..., B, S) int64 (0 in unused slots)."""
    values: torch.Tensor
    """Coefficient added per step, (..., B, S) (0 in unused slots)."""
    residual: torch.Tensor
    """Final residual, (..., B, d)."""
    n_iter: torch.Tensor
    """Steps applied per signal, (..., B) int64."""


def dense_codes(indices: torch.Tensor, values: torch.Tensor, n_atoms: int) -> torch.Tensor:
    """Scatter-add step coefficients into dense codes (..., B, n_atoms); differentiable."""
    shape = (*indices.shape[:-1], n_atoms)
    return torch.zeros(shape, dtype=values.dtype, device=values.device).scatter_add(
        -1, indices, values
    )


def _argmax_chunked(
    R: torch.Tensor,
    D: torch.Tensor,
    selection: str,
    inv_norm: torch.Tensor | None,
    banned: torch.Tensor | None,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best score and its atom index per signal, never forming more than B × chunk scores."""
    n_atoms = D.shape[-2]
    best = idx = None
    for lo in range(0, n_atoms, chunk):
        hi = min(lo + chunk, n_atoms)
        # Called under no_grad on detached inputs: the fresh product can be scored in place.
        s = R @ D[..., lo:hi, :].transpose(-1, -2)
        if selection == "abs":
            s.abs_()
        if inv_norm is not None:
            s.mul_(inv_norm[..., None, lo:hi])
        if banned is not None:
            s.masked_fill_(banned[..., lo:hi], float("-inf"))
        val, arg = s.max(-1)  # first maximal index: ties go to the lowest atom index
        if best is None:
            best, idx = val, arg
        else:
            better = val > best  # strict: keeps the lower index on ties across chunks
            best = torch.where(better, val, best)
            idx = torch.where(better, arg + lo, idx)
    return best, idx


def mp_loop(
    X: torch.Tensor,
    D: torch.Tensor,
    *,
    n_steps: int | torch.Tensor,
    tol: torch.Tensor | float | None = None,
    selection: str = "abs",
    coefficient: str = "projection",
    normalize: bool = False,
    allow_reselect: bool = True,
    stop_on_unchanged_support: bool = False,
    min_score: torch.Tensor | float = 0.0,
    chunk_size: int | None = None,
    stop_score: torch.Tensor | float | None = None,
) -> MPTrace:
    """Run batched matching pursuit; differentiable with respect to ``X`` and ``D``.

    Inputs are trusted (validated by the public callers): floating tensors on one device.

    Parameters
    ----------
    X : Tensor of shape (..., B, d)
        Signals (the caller subtracts any pre-bias).
    D : Tensor of shape (..., N, d)
        Atoms as rows; leading dims broadcast with ``X``'s.
    n_steps : int or Tensor of shape (..., B)
        Step budget per signal (the loop runs ``max(n_steps)`` times at most).
    tol : float or Tensor of shape (..., B), optional
        A signal stops once its squared residual norm is ``<= tol`` (checked before each step).
    selection : {"abs", "signed", "positive"}, default="abs"
        Score to maximise: ``|c|`` (classical MP), ``c`` (signed max: the coefficient may still
        be negative when every correlation is), or ``c`` with the signal stopping once the best
        ``c <= min_score`` (non-negative MP; ReLU selection of the MP-SAE papers).
    coefficient : {"projection", "correlation"}, default="projection"
        ``<r, d>/||d||²`` (exact 1-D projection, ||r|| non-increasing for any atom norms) or the
        raw ``<r, d>`` (the MP-SAE toy, whose atoms drift from unit norm).
    normalize : bool, default=False
        Select by ``score/||d||`` instead of the raw score.
    allow_reselect : bool, default=True
        Classical MP re-selects atoms (coefficients accumulate); False masks used atoms.
    stop_on_unchanged_support : bool, default=False
        The MP-SAE toy rule: a step that re-picks an already used atom is applied, then its
        signal stops.
    min_score : float or Tensor, default=0.0
        Threshold of the ``"positive"`` stop (scale-relative thresholds are the caller's job).
    chunk_size : int, optional
        Atoms per correlation chunk (default: a B × chunk score buffer of 2**24 entries on
        GPU, 2**21 on CPU, at least 256 atoms).
    stop_score : float or Tensor of shape (..., B), optional
        Any selection: a signal stops once its best score is ``<= stop_score`` (nothing left
        to explain; :func:`mplib.pursuit.sparse_encode` passes a scale-relative floor). None
        (default) keeps the rules above only.

    Returns
    -------
    MPTrace
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if coefficient not in COEFFICIENTS:
        raise ValueError(f"coefficient must be one of {COEFFICIENTS}, got {coefficient!r}")
    batch = torch.broadcast_shapes(X.shape[:-2], D.shape[:-2])
    X = X.expand(*batch, *X.shape[-2:])
    D = D.expand(*batch, *D.shape[-2:])
    n_signals, n_atoms = X.shape[-2], D.shape[-2]
    dev = X.device

    budget = torch.as_tensor(n_steps, device=dev).expand(*batch, n_signals)
    max_steps = int(budget.max()) if budget.numel() else 0
    # Score buffer of B × chunk: 2**24 entries on GPU; on CPU 2**21, which stays in the
    # last-level cache (measured: MP at 65 % → see benchmarks/bench_pursuit.py).
    elems = 2**24 if dev.type == "cuda" else 2**21
    rows = max(1, n_signals * max(1, batch.numel()))
    chunk = chunk_size or max(1, min(n_atoms, max(256, elems // rows)))

    with torch.no_grad():
        norms2 = torch.linalg.vector_norm(D.detach(), dim=-1).square()  # (..., N), no N×d temp
        inv_norm = norms2.clamp_min(torch.finfo(D.dtype).tiny).rsqrt() if normalize else None
        zero_atom = norms2 <= 0
        # A zero atom scores 0, so a non-negative stop_score keeps it out without the
        # B × N mask (which SAE-sized dictionaries with dead atoms cannot afford).
        stop_t = None if stop_score is None else torch.as_tensor(stop_score)
        stops_zero = stop_t is not None and (stop_t.numel() == 0 or float(stop_t.min()) >= 0)
        banned = zero_atom.unsqueeze(-2).expand(*batch, n_signals, n_atoms).clone() \
            if ((zero_atom.any() and not stops_zero) or not allow_reselect) else None
        tol_t = None if tol is None else torch.as_tensor(tol, dtype=X.dtype, device=dev)

    R = X
    done = budget <= 0
    n_iter = torch.zeros(*batch, n_signals, dtype=torch.long, device=dev)
    used = torch.zeros(*batch, n_signals, n_atoms, dtype=torch.bool, device=dev) \
        if stop_on_unchanged_support else None
    idx_steps, val_steps = [], []
    for _ in range(max_steps):
        with torch.no_grad():
            Rd = R.detach()
            if tol_t is not None:
                done = done | ((Rd**2).sum(-1) <= tol_t)
            best, j = _argmax_chunked(Rd, D.detach(), selection, inv_norm, banned, chunk)
            if selection == "positive":
                done = done | ~(best > min_score)
            if stop_score is not None:
                done = done | ~(best > stop_score)
            done = done | ~torch.isfinite(best)  # every atom banned or zero
            if bool(done.all()):
                break
            live = ~done
        d = torch.gather(D, -2, j.unsqueeze(-1).expand(*j.shape, D.shape[-1]))
        c = (R * d).sum(-1)
        if coefficient == "projection":  # ||d||² from the gathered atom: it carries gradient
            c = c / (d * d).sum(-1).clamp_min(torch.finfo(D.dtype).tiny)
        a = c
        a = torch.where(live, a, torch.zeros((), dtype=a.dtype, device=dev))
        R = R - a.unsqueeze(-1) * d
        idx_steps.append(torch.where(live, j, torch.zeros_like(j)))
        val_steps.append(a)
        with torch.no_grad():
            n_iter += live.long()
            if used is not None:
                seen = used.gather(-1, j.unsqueeze(-1)).squeeze(-1)
                used.scatter_(-1, j.unsqueeze(-1), live.unsqueeze(-1) | seen.unsqueeze(-1))
                done = done | (live & seen)
            if banned is not None and not allow_reselect:
                banned.scatter_(-1, j.unsqueeze(-1), True)
            done = done | (n_iter >= budget)

    if idx_steps:
        indices = torch.stack(idx_steps, -1)
        values = torch.stack(val_steps, -1)
    else:
        indices = torch.zeros(*batch, n_signals, 0, dtype=torch.long, device=dev)
        values = torch.zeros(*batch, n_signals, 0, dtype=X.dtype, device=dev)
    return MPTrace(indices, values, R, n_iter)
