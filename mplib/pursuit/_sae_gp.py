"""Inference-time gradient pursuit with an SAE's decoder (the SAE dark-matter paper's encoder).

Engels, Riggs, Tegmark, "Decomposing The Dark Matter of Sparse Autoencoders" (arXiv
2410.14670, 2024), section on reducing nonlinear error: replace the SAE's encoder by
non-negative gradient pursuit over its own decoder rows, each token given as many pursuit
*iterations* as its SAE had active latents. The released loop (``encoder_pursuit.py``),
which ``reference="sae-dark-matter"`` follows step for step::

    S ← X − b_dec ; z ← 0 (B × N) ; z_out ← 0
    for step = 0 … max(L) − 1:
        r ← S − z W                        # residual, recomputed densely
        g ← r Wᵀ                           # correlations with every atom
        support ← {j : z_j ≠ 0} ∪ {argmax_j g_j}   # SIGNED argmax, not masked
        u ← g on the support, 0 elsewhere
        c ← u W
        η ← ⟨c, r⟩ / ⟨c, c⟩                 # exact line search (no guard for c = 0)
        z ← max(z + η u, 0)                # clip; zeroed atoms leave the support
        z_out ← z for tokens with L > step
    reconstruction ← z_out W + b_dec

Realised nonzeros are at most ``L`` (re-selecting a support atom or clipping leaves the count
below it); ``L = 0`` reconstructs to ``b_dec``.

The fast path computes the same iterates with less work: tokens are sorted by budget, so the
live tokens of a batch (``L > step``) form a prefix and finished tokens cost nothing (the
released loop runs ``max(L)`` steps on its whole batch); the residual ``S − z_Γ W_Γ`` and the
step's image ``c = u_Γ W_Γ`` are sums of the few support atoms (``embedding_bag``), and the one
dense product per step is ``r Wᵀ``, which the signed argmax over all atoms needs (the released
loop does three dense ``B × N × d`` products and several ``B × N`` passes per step). The fast
path also **stops a token whose ⟨c, c⟩ is 0** (the released loop divides 0 by 0 and that
token's codes become NaN; only degenerate tokens, e.g. ``x = b_dec``, are affected).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch

__all__ = ["REFERENCES", "SAEPursuitResult", "sae_gradient_pursuit"]

REFERENCES = (None, "sae-dark-matter")


class SAEPursuitResult(NamedTuple):
    """Result of :func:`sae_gradient_pursuit` (numpy or torch, like ``X``)."""

    indices: Any
    """(n_tokens, S) int64 atoms of each token's final support, padded with -1 (value 0)."""
    values: Any
    """(n_tokens, S) their coefficients (> 0; 0 in padding)."""
    reconstruction: Any
    """(n_tokens, d) ``codes @ W_dec + b_dec``."""
    n_nonzero: Any
    """(n_tokens,) int64 realised nonzeros (<= budget)."""

    def to_dense(self, n_atoms: int) -> Any:
        """Return the codes as a dense ``(n_tokens, n_atoms)`` array of ``values``' type."""
        idx = torch.as_tensor(self.indices)
        val = torch.as_tensor(self.values)
        out = torch.zeros(idx.shape[0], n_atoms, dtype=val.dtype, device=val.device)
        keep = idx >= 0
        out.scatter_add_(1, torch.where(keep, idx, 0), torch.where(keep, val, 0))
        return out.numpy() if isinstance(self.values, np.ndarray) else out


def _as_tensor(a: Any, name: str) -> tuple[torch.Tensor, bool]:
    if isinstance(a, torch.Tensor):
        t, is_np = a, False
    else:
        arr = np.asarray(a)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
        t, is_np = torch.from_numpy(np.array(arr, dtype=np.float64 if arr.dtype.kind != "f"
                                             else arr.dtype)), True
    if not t.is_floating_point():
        t = t.to(torch.float64)
    return t, is_np


def _budgets(budgets: Any, n: int) -> torch.Tensor:
    if isinstance(budgets, bool):
        raise TypeError(f"budgets must be an int or one int per token, got {budgets!r}")
    arr = np.asarray(budgets.detach().cpu() if isinstance(budgets, torch.Tensor) else budgets)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"budgets must be integers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = np.full(n, int(arr))
    if arr.shape != (n,):
        raise ValueError(f"budgets must be an int or have shape ({n},), got shape {arr.shape}")
    if n and int(arr.min()) < 0:
        raise ValueError(f"budgets must be >= 0, got {int(arr.min())}")
    return torch.from_numpy(arr.astype(np.int64))


def sae_gradient_pursuit(
    X: Any,
    W_dec: Any,
    budgets: Any,
    *,
    b_dec: Any = None,
    reference: str | None = None,
    batch_size: int = 1024,
) -> SAEPursuitResult:
    """Encode each token by non-negative gradient pursuit over an SAE's decoder rows.

    Solves, greedily, ``min ‖x − b_dec − z W_dec‖²`` over ``z >= 0`` with at most
    ``budgets[t]`` pursuit iterations for token ``t`` (the released loop above).

    Parameters
    ----------
    X : ndarray or Tensor of shape (n_tokens, d)
        Activations (raw: ``b_dec`` is subtracted here).
    W_dec : ndarray or Tensor of shape (n_atoms, d)
        Decoder rows (atoms as rows), in ``X``'s scale.
    budgets : int or array of shape (n_tokens,)
        Iterations per token (>= 0), e.g. the SAE's own L0 on each token.
    b_dec : array of shape (d,), optional
        Decoder bias (default 0).
    reference : {None, "sae-dark-matter"}, default=None
        None: the fast path. ``"sae-dark-matter"``: the released dense loop, step for step
        (batches of ``batch_size`` tokens; NaN codes where it divides by zero).
    batch_size : int, default=1024
        Tokens per batch (the released script used 256).

    Returns
    -------
    SAEPursuitResult

    Notes
    -----
    Compute in ``X``'s floating dtype (integers promote to float64); ``W_dec`` and ``b_dec``
    are converted to it. Engels et al. (2024), ``JoshEngels/SAE-Dark-Matter``,
    ``encoder_pursuit.py``; gradient pursuit: Blumensath & Davies, IEEE TSP 56(6), 2008.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.eye(3)
    >>> res = sae_gradient_pursuit(np.array([[3.0, -1.0, 2.0]]), W, 2)
    >>> res.reconstruction
    array([[3., 0., 2.]])
    """
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    Xt, is_np = _as_tensor(X, "X")
    if Xt.dim() != 2:
        raise ValueError(f"X must have shape (n_tokens, d), got {tuple(Xt.shape)}")
    W = _as_tensor(W_dec, "W_dec")[0].to(device=Xt.device, dtype=Xt.dtype)
    if W.dim() != 2 or W.shape[1] != Xt.shape[1]:
        raise ValueError(f"W_dec must have shape (n_atoms, {Xt.shape[1]}), got "
                         f"{tuple(W.shape)}")
    b = torch.zeros(Xt.shape[1], dtype=Xt.dtype, device=Xt.device) if b_dec is None else \
        _as_tensor(b_dec, "b_dec")[0].to(device=Xt.device, dtype=Xt.dtype).reshape(-1)
    if b.shape != (Xt.shape[1],):
        raise ValueError(f"b_dec must have shape ({Xt.shape[1]},), got {tuple(b.shape)}")
    L = _budgets(budgets, Xt.shape[0]).to(Xt.device)
    # fast path: tokens sorted by budget, so each batch's live tokens form a prefix
    order = torch.arange(len(L)) if reference else torch.sort(L, descending=True,
                                                               stable=True).indices
    run = _reference_batch if reference else _fast_batch
    parts = []
    with torch.no_grad():
        for i in range(0, Xt.shape[0], batch_size):
            sel = order[i:i + batch_size].to(Xt.device)
            parts.append(run(Xt[sel] - b, W, L[sel]))
    S = max([p[0].shape[1] for p in parts], default=0)
    idx = torch.cat([_pad(p[0], S, -1) for p in parts]) if parts else \
        torch.zeros(0, 0, dtype=torch.long)
    val = torch.cat([_pad(p[1], S, 0) for p in parts]) if parts else Xt.new_zeros(0, 0)
    recon = torch.cat([p[2] for p in parts]) + b if parts else Xt.new_zeros(0, Xt.shape[1])
    if reference is None and len(order):
        inv = torch.empty_like(order)
        inv[order] = torch.arange(len(order))
        inv = inv.to(Xt.device)
        idx, val, recon = idx[inv], val[inv], recon[inv]
    nnz = (idx >= 0).sum(-1)
    out = SAEPursuitResult(idx, val, recon, nnz)
    if is_np:
        return SAEPursuitResult(*(t.cpu().numpy() for t in out))
    return out


def _pad(t: torch.Tensor, width: int, fill) -> torch.Tensor:
    if t.shape[1] == width:
        return t
    pad = torch.full((t.shape[0], width - t.shape[1]), fill, dtype=t.dtype, device=t.device)
    return torch.cat([t, pad], 1)


def _sparse_out(z: torch.Tensor, W: torch.Tensor):
    """Compact dense codes into (indices, values) sorted by atom, and ``z @ W``."""
    n = z.shape[1]
    nz = z != 0
    k = int(nz.sum(-1).max()) if z.numel() else 0
    key = torch.where(nz, torch.arange(n, device=z.device), n).sort(-1).values[:, :k]
    vals = torch.where(key < n, z.gather(1, key.clamp(max=n - 1)), 0)
    return torch.where(key < n, key, -1), vals, z @ W


def _reference_batch(S: torch.Tensor, W: torch.Tensor, L: torch.Tensor) -> tuple:
    """Run the released dense loop on one batch (``S`` has ``b_dec`` removed)."""
    n = W.shape[0]
    weights = S.new_zeros(S.shape[0], n)
    final = torch.zeros_like(weights)
    rows = torch.arange(S.shape[0], device=S.device)
    for step in range(int(L.max()) if L.numel() else 0):
        residual = S - weights @ W
        selected = weights != 0
        inner = residual @ W.T
        selected[rows, inner.argmax(-1)] = True
        grad = inner * selected.to(S.dtype)
        c = grad @ W
        eta = (c * residual).sum(-1) / (c * c).sum(-1)
        weights = torch.clamp(weights + grad * eta[:, None], min=0)
        final = torch.where(L[:, None] > step, weights, final)
    return _sparse_out(final, W)


def _fast_batch(S: torch.Tensor, W: torch.Tensor, L: torch.Tensor) -> tuple:
    """Gathered-support pursuit on one batch sorted by budget (descending).

    Same iterates as the released loop. Live tokens (``L > step``) are a prefix of the
    batch, so each step works on that prefix only; the residual and the step's image are
    sums of a few gathered atoms (``embedding_bag``), and the one dense product per step is
    the correlation with every atom that the signed argmax needs.
    """
    B, n = S.shape[0], W.shape[0]
    steps = int(L[0]) if B else 0
    cap = max(min(steps, n), 1)
    idx = torch.zeros(B, cap, dtype=torch.long, device=S.device)  # support slots
    z = S.new_zeros(B, cap)
    occ = torch.zeros(B, cap, dtype=torch.bool, device=S.device)
    alive = torch.ones(B, dtype=torch.bool, device=S.device)  # False once <c, c> = 0
    bag = torch.nn.functional.embedding_bag
    for step in range(steps):
        m = int((L > step).sum())  # live prefix
        if m == 0 or not bool(alive[:m].any()):
            break
        zi, ii, oc, al = z[:m], idx[:m], occ[:m], alive[:m]
        r = S[:m] - bag(ii, W, per_sample_weights=torch.where(oc, zi, 0), mode="sum")
        g = r @ W.T
        j = g.argmax(-1)
        present = (oc & (ii == j[:, None])).any(-1)
        add = al & ~present
        slot = torch.where(add, (~oc).to(torch.uint8).argmax(-1), 0)
        rows = torch.arange(m, device=S.device)
        ii[rows, slot] = torch.where(add, j, ii[rows, slot])
        oc[rows, slot] = oc[rows, slot] | add
        u = torch.where(oc, g.gather(1, ii), 0)
        c = bag(ii, W, per_sample_weights=u, mode="sum")
        cc = (c * c).sum(-1)
        al &= cc > 0  # the released loop would divide by zero here
        eta = torch.where(al, (c * r).sum(-1) / torch.where(al, cc, 1), 0)
        zi.copy_(torch.where(oc & al[:, None], torch.clamp(zi + eta[:, None] * u, min=0), zi))
        oc &= zi != 0
    dense = S.new_zeros(B, n)
    dense.scatter_add_(1, idx, torch.where(occ, z, 0))
    return _sparse_out(dense, W)
