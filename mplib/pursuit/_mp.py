"""Batched matching pursuit kernel (torch), differentiable, shared by solvers and MP-SAE.

One kernel serves :func:`mplib.pursuit.sparse_encode` (``algorithm="mp"``) and the MP-SAE
encoder (:mod:`mplib.sae`), so the autoencoder's encoder *is* the pursuit code.

Per step, for every signal still running::

    c = R Dᵀ                 correlations of the residual with every atom
    j = argmax score(c)      score: |c| ("abs"), c ("signed"), c with stop at c <= 0 ("positive")
    a = c_j / ||d_j||²       ("projection") or c_j ("correlation": the MP-SAE toy)
    r -= a d_j ;  record (j, a)

Two regimes compute these same steps (the rules below are shared; they agree to rounding):

* **residual** (large dictionaries): ``c`` is recomputed from the residual each step (no grad;
  chunked over atoms, running max/argmax), and only the selected atom ``D[j]`` is gathered with
  grad: O(B·d) saved per step, never O(B·N). Every signal of the batch takes every step until
  the slowest one stops.
* **Gram** (small dictionaries, ``N <= 256``: the toy SAEs): ``c`` lives in Gram space,
  ``c ← c - a·G[:, j]`` with ``G = D Dᵀ``; signals that have stopped leave the loop, so the
  work follows the mean number of steps, not the maximum (≈ 2.5 vs ≈ 12 on the MP-SAE toy);
  correlations are stored atoms × signals, so the per-step max runs along contiguous memory.
  Its backward pass is analytic (:class:`_GramMP`): it walks the steps in reverse, rebuilding
  ``r_{t-1} = r_t + a·d_j`` (O(B·d) memory, no per-step autograd nodes).

Leading dimensions batch independent problems (e.g. many SAEs trained at once):
``X`` (..., B, d) and ``D`` (..., N, d) broadcast over ``...``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable

from mplib.pursuit import _mp_jit

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


GRAM_BACKEND = "auto"
"""Gram regime on CPU: ``"auto"`` runs the compiled kernels (:mod:`mplib.pursuit._mp_jit`,
same steps, ~3.5x faster on the toy SAEs) when numba is installed, ``"torch"`` the torch
kernel (CUDA always)."""

GRAM_MAX_ATOMS = 256
"""Largest dictionary run in the Gram regime (its B·N-per-step update beats B·N·d)."""
GRAM_MAX_ENTRIES = 2**24
"""Largest Gram stack (batch × N × N entries) the Gram regime may build."""


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
    min_score : float or Tensor of shape (..., B), default=0.0
        Threshold of the ``"positive"`` stop (scale-relative thresholds are the caller's job).
    chunk_size : int, optional
        Residual regime: atoms per correlation chunk (default: a B × chunk score buffer of
        2**24 entries on GPU, 2**21 on CPU, at least 256 atoms).
    stop_score : float or Tensor of shape (..., B), optional
        Any selection: a signal stops once its best score is ``<= stop_score`` (nothing left
        to explain; :func:`mplib.pursuit.sparse_encode` passes a scale-relative floor). None
        (default) keeps the rules above only.

    Returns
    -------
    MPTrace

    Notes
    -----
    Dictionaries of at most :data:`GRAM_MAX_ATOMS` atoms run in the Gram regime (module
    docstring), larger ones in the residual regime; both apply the same rules, and their codes,
    residuals and gradients agree to rounding (float64: ~1e-15).
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if coefficient not in COEFFICIENTS:
        raise ValueError(f"coefficient must be one of {COEFFICIENTS}, got {coefficient!r}")
    batch = torch.broadcast_shapes(X.shape[:-2], D.shape[:-2])
    X = X.expand(*batch, *X.shape[-2:])
    D = D.expand(*batch, *D.shape[-2:])
    n_signals, n_atoms = X.shape[-2], D.shape[-2]
    budget = torch.as_tensor(n_steps, device=X.device).expand(*batch, n_signals)
    rules = dict(selection=selection, coefficient=coefficient, normalize=normalize,
                 allow_reselect=allow_reselect, support=stop_on_unchanged_support)
    if _gram_regime(X, n_atoms, batch):
        return _gram_mp(X, D, budget, tol, min_score, stop_score, rules)
    return _residual_mp(X, D, budget, tol, min_score, stop_score, rules, chunk_size)


def _gram_regime(X: torch.Tensor, n_atoms: int, batch: torch.Size) -> bool:
    n_problems = max(1, batch.numel())
    return (0 < n_atoms <= GRAM_MAX_ATOMS and X.shape[-2] > 0 and X.shape[-1] > 0
            and n_problems * n_atoms * n_atoms <= GRAM_MAX_ENTRIES)


def _residual_mp(X, D, budget, tol, min_score, stop_score, rules, chunk_size) -> MPTrace:
    """Residual regime: fresh correlations each step, every signal until the last one stops."""
    selection, coefficient = rules["selection"], rules["coefficient"]
    allow_reselect = rules["allow_reselect"]
    batch = X.shape[:-2]
    n_signals, n_atoms = X.shape[-2], D.shape[-2]
    dev = X.device
    max_steps = int(budget.max()) if budget.numel() else 0
    # Score buffer of B × chunk: 2**24 entries on GPU; on CPU 2**21, which stays in the
    # last-level cache (measured: MP at 65 % → see benchmarks/bench_pursuit.py).
    elems = 2**24 if dev.type == "cuda" else 2**21
    rows = max(1, n_signals * max(1, batch.numel()))
    chunk = chunk_size or max(1, min(n_atoms, max(256, elems // rows)))

    with torch.no_grad():
        norms2 = torch.linalg.vector_norm(D.detach(), dim=-1).square()  # (..., N), no N×d temp
        inv_norm = norms2.clamp_min(torch.finfo(D.dtype).tiny).rsqrt() \
            if rules["normalize"] else None
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
        if rules["support"] else None
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


# ---------------------------------------------------------------------------------------------
# Gram regime


def _gram_mp(X, D, budget, tol, min_score, stop_score, rules) -> MPTrace:
    """Gram regime: flatten the leading dims to M problems, run :class:`_GramMP`, reshape."""
    batch = X.shape[:-2]
    (n_signals, d), n_atoms = X.shape[-2:], D.shape[-2]
    m = max(1, batch.numel())
    rows = m * n_signals

    def per_signal(v, dtype):
        """Keep a Python number (no per-signal tensor to carry); else expand to (rows,)."""
        if v is None or isinstance(v, int | float):
            return v
        v = torch.as_tensor(v, dtype=dtype, device=X.device)
        if v.numel() and bool((v == v.reshape(-1)[0]).all()):
            return v.reshape(-1)[0].item()
        return v.expand(*batch, n_signals).reshape(rows)

    stops = per_signal(stop_score, X.dtype)
    with torch.no_grad():
        n2 = torch.linalg.vector_norm(D.detach(), dim=-1).square()
    # as the residual regime: a zero atom is banned unless a non-negative stop_score (which
    # it can never pass: it scores 0) keeps it out anyway
    stops_zero = stops is not None and (
        stops >= 0 if isinstance(stops, int | float) else float(stops.min()) >= 0)
    opts = dict(rules, ban_zero=bool((n2 <= 0).any()) and not stops_zero)
    limits = (per_signal(budget, torch.long), per_signal(tol, X.dtype),
              per_signal(min_score, X.dtype) if rules["selection"] == "positive" else None,
              stops)
    Xf, Df = X.reshape(m, n_signals, d), D.reshape(m, n_atoms, d)
    compiled = GRAM_BACKEND != "torch" and _mp_jit.supports(X)
    if torch.is_grad_enabled() and (Xf.requires_grad or Df.requires_grad):
        idx, val, R, n_iter = _GramMP.apply(Xf, Df, limits, opts, compiled)
    else:
        kernel = _mp_jit.forward if compiled else _gram_forward
        idx, val, R, n_iter = kernel(Xf.detach(), Df.detach(), *limits, opts)
    if not compiled:  # the torch kernel stores slots step-major (S, rows): one row a step
        idx, val = idx.t(), val.t()
    t = idx.shape[1]
    return MPTrace(idx.view(*batch, n_signals, t), val.view(*batch, n_signals, t),
                   R.view(*batch, n_signals, d), n_iter.view(*batch, n_signals))


def _col_argmax(S: torch.Tensor, rev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Max over dim 0 of ``S`` (N, L) and the first index reaching it.

    ``Tensor.max(0)`` walks each column element by element (~45 ns per column of 20 on CPU);
    ``amax`` is vectorised along the contiguous dim, so the index comes from a second
    vectorised pass: ``sign(S - best) + 1`` is 1 exactly at the maxima (a float difference is
    zero only between equal numbers), weighted by ``rev = N, N-1, …, 1`` so that the largest
    weight marks the lowest maximal index (the tie rule of ``max``).
    """
    best = S.amax(0)
    w = torch.sub(S, best).sign_()
    first = torch.addcmul(rev[:, : S.shape[1]], w, rev[:, : S.shape[1]]).amax(0)
    return best, (S.shape[0] - first).long()


def _gram_forward(X, D, budget, tol, min_score, stop_score, opts):
    """Forward pass of the Gram regime on detached (M, B, d), (M, N, d) inputs.

    ``budget``, ``tol``, ``min_score`` and ``stop_score`` are Python numbers or (M·B,)
    tensors (None: unused). Returns step-major ``indices`` and ``values`` (S, M·B), the
    residual (M, B, d) and ``n_iter`` (M·B,).
    """
    m, n_signals, d = X.shape
    n_atoms, dt, dev = D.shape[1], X.dtype, X.device
    rows = m * n_signals
    selection, projection = opts["selection"], opts["coefficient"] == "projection"
    tiny = torch.finfo(dt).tiny
    G = torch.bmm(D, D.transpose(1, 2))
    Gcols = G.permute(1, 0, 2).reshape(n_atoms, m * n_atoms)  # column m·N + j = G[m, :, j]
    n2 = torch.linalg.vector_norm(D, dim=-1).square().reshape(-1)
    # correlations, atoms × signals: column m·B + b = D[m] x_b
    C = torch.bmm(D, X.transpose(1, 2)).permute(1, 0, 2).reshape(n_atoms, rows)
    rev = torch.arange(n_atoms, 0, -1, dtype=dt, device=dev)[:, None].expand(
        n_atoms, rows).contiguous()
    inv_t = n2.clamp_min(tiny).rsqrt().view(m, n_atoms).t().contiguous() \
        if opts["normalize"] else None
    banned = None
    if opts["ban_zero"] or not opts["allow_reselect"]:
        zero = (n2 <= 0).view(m, 1, n_atoms).expand(m, n_signals, n_atoms)
        banned = zero.permute(2, 0, 1).reshape(n_atoms, rows).clone()
    used = torch.zeros(rows * n_atoms, dtype=torch.bool, device=dev) if opts["support"] else None

    # per-signal state, compacted with the signals still running
    live = torch.arange(rows, device=dev)
    state = {}
    if isinstance(budget, torch.Tensor):
        state["budget"] = budget
    if tol is not None:  # slack = ||r||² - tol: the signal runs while it is positive
        state["slack"] = (X * X).sum(-1).reshape(rows) - tol
    for name, v in (("min_score", min_score), ("stop_score", stop_score)):
        if isinstance(v, torch.Tensor):
            state[name] = v
    # step-major slot tables (S, rows), grown by doubling: each step fills one row
    cap = min(16, budget) if isinstance(budget, int) else 16
    idx_t = torch.zeros(max(cap, 1), rows, dtype=torch.long, device=dev)
    val_t = torch.zeros(max(cap, 1), rows, dtype=dt, device=dev)
    t = 0
    codes = torch.zeros(rows * n_atoms, dtype=dt, device=dev)
    n_iter = torch.zeros(rows, dtype=torch.long, device=dev)
    # "positive" with a finite min_score already stops on -inf and NaN scores
    need_finite = not (selection == "positive" and isinstance(min_score, int | float)
                       and math.isfinite(min_score))
    keep_mask = None  # signals stopped by the unchanged-support rule after the last step
    while True:
        if not isinstance(budget, torch.Tensor) and t >= budget:
            break
        ok = state["budget"] > t if "budget" in state else None
        for cond in (keep_mask, state["slack"] > 0 if "slack" in state else None):
            if cond is not None:
                ok = cond if ok is None else ok & cond
        S = C.abs() if selection == "abs" else C
        if inv_t is not None:
            S = S * inv_t.index_select(1, torch.div(live, n_signals, rounding_mode="floor"))
        if banned is not None:
            S = S.masked_fill(banned.index_select(1, live), float("-inf"))
        best, j = _col_argmax(S, rev)
        for name, v in (("min_score", min_score), ("stop_score", stop_score)):
            if v is not None:  # the signal runs while its best score beats the threshold
                cond = best > state.get(name, v)
                ok = cond if ok is None else ok & cond
        if need_finite:  # every atom banned or zero, or NaN input
            ok = torch.isfinite(best) if ok is None else ok & torch.isfinite(best)
        if ok is not None and not bool(ok.all()):
            keep = ok.nonzero().squeeze(1)
            if keep.numel() == 0:
                break
            live, C, best, j = (v.index_select(-1, keep) for v in (live, C, best, j))
            state = {k: v.index_select(0, keep) for k, v in state.items()}
        fj = torch.div(live, n_signals, rounding_mode="floor").mul_(n_atoms).add_(j)
        c = best if selection != "abs" and inv_t is None else C.gather(0, j[None]).squeeze(0)
        if projection or "slack" in state:
            nj = n2.index_select(0, fj)
        a = c / nj.clamp_min(tiny) if projection else c
        C.addcmul_(Gcols.index_select(1, fj), a[None], value=-1)
        if "slack" in state:  # ||r - a d||² = ||r||² - a (2c - a ||d||²)
            state["slack"].addcmul_(a, torch.addcmul(c + c, a, nj, value=-1), value=-1)
        pos = live * n_atoms + j
        if t == idx_t.shape[0]:
            idx_t = torch.cat([idx_t, torch.zeros_like(idx_t)])
            val_t = torch.cat([val_t, torch.zeros_like(val_t)])
        idx_t[t].index_copy_(0, live, j)
        val_t[t].index_copy_(0, live, a)
        codes.index_add_(0, pos, a)
        t += 1
        n_iter.index_fill_(0, live, t)
        keep_mask = None
        if used is not None:
            keep_mask = ~used.index_select(0, pos)
            used.index_fill_(0, pos, True)
        if banned is not None and not opts["allow_reselect"]:
            banned.view(-1).index_fill_(0, j * rows + live, True)

    R = torch.baddbmm(X, codes.view(m, n_signals, n_atoms), D, alpha=-1)
    return idx_t[:t], val_t[:t], R, n_iter


class _GramMP(torch.autograd.Function):
    """Gram-regime pursuit with an analytic backward pass (see the module docstring).

    Per step and signal, ``r' = r - a d`` with ``a = <r, d>`` (or ``<r, d>/||d||²``). Given
    ``g' = ∂L/∂r'`` and ``∂L/∂a`` (from ``values``), with ``γ = ∂L/∂a - <g', d>``::

        correlation: ∂L/∂r = g' + γ d            ∂L/∂d += γ r - a g'
        projection:  ∂L/∂r = g' + (γ/n) d        ∂L/∂d += (γ/n)(r - 2 a d) - a g'   (n = ||d||²)

    and ``r = r' + a d`` is rebuilt from the final residual on the way back. Signals are
    sorted by their number of steps first, so the signals still running at any step are a
    prefix: the backward pass updates slices in place and never compacts. With ``compiled``
    both passes run the numba kernels of :mod:`mplib.pursuit._mp_jit` instead (same formulas,
    one signal at a time, slots signal-major (rows, S) rather than step-major).
    """

    @staticmethod
    def forward(ctx, X, D, limits, opts, compiled):
        kernel = _mp_jit.forward if compiled else _gram_forward
        idx, val, R, n_iter = kernel(X.detach(), D.detach(), *limits, opts)
        ctx.save_for_backward(D, R, idx, val, n_iter)
        ctx.projection = opts["coefficient"] == "projection"
        ctx.compiled = compiled
        ctx.mark_non_differentiable(idx, n_iter)
        return idx, val, R, n_iter

    @staticmethod
    @once_differentiable
    def backward(ctx, _g_idx, g_val, g_res, _g_n):
        D, R, idx_t, val_t, n_iter = ctx.saved_tensors
        need_x, need_d = ctx.needs_input_grad[:2]
        if ctx.compiled:  # signal-major slots, one signal at a time
            gX, gD = _mp_jit.backward(D.detach(), R, idx_t, val_t, n_iter, g_val, g_res,
                                      ctx.projection, need_d)
            return (gX if need_x else None), (gD if need_d else None), None, None, None
        m, n_signals, d = R.shape
        rows, n_atoms = m * n_signals, D.shape[1]
        order = torch.sort(n_iter, descending=True, stable=True).indices
        # running[k] = number of signals that took at least k steps
        running = torch.bincount(n_iter, minlength=idx_t.shape[0] + 1).flip(0).cumsum(0).flip(0)
        running = running.tolist()
        run_base = torch.div(order, n_signals, rounding_mode="floor").mul_(n_atoms)
        # d × signals, sorted (fresh tensors: both are updated in place); rows are gathered
        # first, then transposed (a column gather from the transposed view is ~4x slower)
        res = R.reshape(rows, d).index_select(0, order).t().contiguous()
        grad = (torch.zeros_like(res) if g_res is None
                else g_res.reshape(rows, d).index_select(0, order).t().contiguous())
        atoms_t = D.reshape(m * n_atoms, d).t().contiguous()
        gD_t = torch.zeros(d, m * n_atoms, dtype=D.dtype, device=D.device) if need_d else None
        for s in range(idx_t.shape[0] - 1, -1, -1):
            n_run = running[s + 1]  # signals that took step s: the first n_run, sorted
            sel = order[:n_run]
            fj = run_base[:n_run] + idx_t[s].index_select(0, sel)
            a = val_t[s].index_select(0, sel)
            dj = atoms_t.index_select(1, fj)
            g, r = grad[:, :n_run], res[:, :n_run]
            gamma = (g * dj).sum(0).neg_()
            if g_val is not None:
                gamma += g_val[s].index_select(0, sel)
            q = gamma
            if ctx.projection:
                nj = (dj * dj).sum(0)
                q = gamma / nj.clamp_min(torch.finfo(nj.dtype).tiny)
            if need_d:
                r.addcmul_(dj, a)  # r_{t-1} = r_t + a d
                gd = torch.addcmul(r * q, g, a, value=-1)
                if ctx.projection:
                    gd.addcmul_(dj, q * a, value=-2)
                gD_t.index_add_(1, fj, gd)
            g.addcmul_(dj, q)
        gX = gD = None
        if need_x:
            unsort = torch.empty_like(order).index_copy_(
                0, order, torch.arange(rows, device=order.device))
            gX = grad.t().contiguous().index_select(0, unsort).view(m, n_signals, d)
        if need_d:
            gD = gD_t.t().reshape(m, n_atoms, d)
        return gX, gD, None, None, None

