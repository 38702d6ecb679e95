"""Matryoshka SAE of the toy (``noanabeshima/matryoshka-saes`` via ``mpsae/MP-SAE``).

With ``n_prefixes=1, permute_latents=False`` it is the toy's *Vanilla* ReLU SAE.

Per training step (the MP-SAE paper's toy recipe; the authors' ``MatryoshkaSAE.step``):

1. Scale the input by ``√d / a`` where ``a`` is a running average (momentum 0.99, starting at
   0) of the mean input norm, updated first.
2. ``acts = relu(x W_enc + b_enc)``; ``normed = acts · ||W_dec_j||``.
3. Draw ``n_prefixes - 1`` distinct prefix lengths from a Pareto-like law favouring short
   prefixes, plus the full length.
4. Loss = mean over prefixes of the summed squared error of that prefix's reconstruction
   + ``coef ·`` mean over prefixes of the prefix's L1 of ``normed`` (batch mean), with the
   adaptive coefficient of :func:`mplib.sae._sparsity.adaptive_l1`.
5. Latents are re-sorted after the optimizer step by a running mean (0.95) of
   ``mean(normed²)``, in decreasing order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from mplib.sae._common import (
    check_choice,
    check_float,
    check_int,
    check_nonneg,
    check_positive,
    keep_top_k,
)
from mplib.sae._sparsity import adaptive_l1, unit_rows
from mplib.sae.base import BaseSAE, SAEOutput

__all__ = ["MatryoshkaSAE", "prefix_length_probs"]

PERMUTATIONS = ("consistent", "as_released")


def prefix_length_probs(n_latents: int, min_length: int = 1, power: float = 0.5) -> torch.Tensor:
    """Probability of each prefix length ``0 … n_latents - 1`` (the toy's Pareto-like law).

    With ``L = n_latents - min_length + 1``: ``p(l) ∝ ((l - m + 1)/L)^power - ((l - m)/L)^power``
    for ``l >= m = min_length`` and 0 below (``power = 0.5`` favours short prefixes).
    """
    span = n_latents - min_length + 1
    cdf = 1 - (torch.arange(span, dtype=torch.float64) / span) ** power
    pdf = torch.cat([torch.zeros(min_length, dtype=torch.float64), cdf[:-1] - cdf[1:]])
    return pdf / pdf.sum()


class _ActStats(torch.autograd.Function):
    """Per-run batch statistics of activations, with a two-product backward pass.

    Autograd would route the gradients of ``actsᵀacts`` and ``actsᵀx`` through transposed
    products and strided accumulations; here ``∂L/∂acts = acts (g_A + g_Aᵀ) + x g_Pᵀ + g_s``
    is two ``baddbmm`` calls.
    """

    @staticmethod
    def forward(ctx, acts, x):
        acts_t = acts.transpose(1, 2)
        ctx.save_for_backward(acts, x)
        return torch.bmm(acts_t, acts), torch.bmm(acts_t, x), acts.sum(1)

    @staticmethod
    @once_differentiable
    def backward(ctx, g_a, g_p, g_s):
        acts, x = ctx.saved_tensors
        g_acts = g_x = None
        if ctx.needs_input_grad[0]:
            g_acts = torch.zeros_like(acts) if g_s is None else g_s[:, None, :].expand_as(acts)
            if g_a is not None:
                g_acts = torch.baddbmm(g_acts, acts, g_a + g_a.transpose(1, 2))
            if g_p is not None:
                g_acts = torch.baddbmm(g_acts, x, g_p.transpose(1, 2))
            g_acts = g_acts.contiguous()
        if ctx.needs_input_grad[1] and g_p is not None:
            g_x = torch.bmm(acts, g_p)
        return g_acts, g_x


def _act_stats(acts: torch.Tensor, x: torch.Tensor):
    """Return ``(actsᵀacts, actsᵀx, Σ_b acts)`` of ``acts`` (M, B, N) and ``x`` (M, B, d).

    Shapes (M, N, N), (M, N, d), (M, N); differentiable in both inputs.
    """
    return _ActStats.apply(acts, x)


class MatryoshkaSAE(BaseSAE):
    """Matryoshka ReLU SAE with nested prefix losses; the toy recipe is the default.

    Parameters
    ----------
    d_in, n_latents : int
    n_prefixes : int, default=5
        Prefixes per step (``n_prefixes - 1`` random lengths + the full length); 1 = Vanilla.
    target_l0 : float or sequence of float (one per run), default=1.36
        L0 the adaptive L1 coefficient steers to (the tree's expected L0).
    l1_coef : float or sequence of float (one per run), default=0.1
        Initial L1 coefficient (the toy's ``starting_sparsity_loss_scale``).
    l1_rate : float, default=3e-4
    l1_warmup : float in [0, 1], default=0.2
        Ramp of the applied coefficient, as a fraction of the steps.
    permute_latents : bool, default=True
        Re-sort latents every step (the toy's Vanilla: False).
    permutation : {"consistent", "as_released"}, default="consistent"
        ``"consistent"``: Adam's moments and the running mean move with the latents (what the
        authors' code intends). ``"as_released"``: neither moves, as in the released code,
        whose state lookup ``param_group.get("state", [])`` is always empty and which never
        permutes its running mean.
    sort_momentum : float in [0, 1), default=0.95
    pareto_power : float, default=0.5
    min_prefix_length : int, default=1
    normalize_input : bool, default=True
        Scale inputs by ``√d / a`` (see the module docstring); codes and ``x_hat`` are reported
        in input scale. Before the first training step ``a = 0`` and the scale is 1.
    norm_momentum : float in [0, 1), default=0.99
    n_models, seed, reduction, dtype, device
        See :class:`~mplib.sae.base.BaseSAE`.

    Notes
    -----
    Initialisation as the toy: ``W_enc ~ N(0, 1/d_in)`` (d_in, n_latents), ``W_dec`` = 0.1 ×
    its unit columns, transposed; zero biases. Codes are ``relu(pre) · ||W_dec_j||`` (input
    scale); :attr:`dictionary` holds unit rows. ``encode(x, k)`` keeps the ``k`` largest codes.

    Bussmann et al., "Learning Multi-Level Features with Matryoshka Sparse Autoencoders",
    arXiv 2503.17547 (2025); Nabeshima, "Matryoshka Sparse Autoencoders" (LessWrong, 2024).
    """

    per_run = ("target_l0", "l1_coef")

    def __init__(
        self,
        d_in: int,
        n_latents: int,
        *,
        n_prefixes: int = 5,
        target_l0: float | Sequence[float] = 1.36,
        l1_coef: float | Sequence[float] = 0.1,
        l1_rate: float = 3e-4,
        l1_warmup: float = 0.2,
        permute_latents: bool = True,
        permutation: str = "consistent",
        sort_momentum: float = 0.95,
        pareto_power: float = 0.5,
        min_prefix_length: int = 1,
        normalize_input: bool = True,
        norm_momentum: float = 0.99,
        n_models: int | None = None,
        seed: int | Sequence[int] = 0,
        reduction: str = "sum",
        dtype: torch.dtype = torch.float32,
        device: Any = "cpu",
    ):
        super().__init__(d_in, n_latents, n_models=n_models, seed=seed, reduction=reduction,
                         dtype=dtype, device=device)
        n_prefixes = check_int("n_prefixes", n_prefixes)
        min_prefix_length = check_int("min_prefix_length", min_prefix_length)
        if n_prefixes > 1 and n_prefixes - 1 > n_latents - min_prefix_length:
            raise ValueError(
                f"n_prefixes must be <= n_latents - min_prefix_length + 1 = "
                f"{n_latents - min_prefix_length + 1}, got {n_prefixes}"
            )
        for name, v in (("permute_latents", permute_latents), ("normalize_input",
                                                               normalize_input)):
            if not isinstance(v, bool):
                raise TypeError(f"{name} must be a bool, got {v!r}")
        mom = dict(low=0.0, high=1.0, high_open=True)
        self.hyper = dict(
            n_prefixes=n_prefixes,
            target_l0=self._per_run_value("target_l0", target_l0, check_positive),
            l1_coef=self._per_run_value("l1_coef", l1_coef, check_nonneg),
            l1_rate=check_float("l1_rate", l1_rate, **mom),
            l1_warmup=check_float("l1_warmup", l1_warmup, low=0.0, high=1.0),
            permute_latents=permute_latents,
            permutation=check_choice("permutation", permutation, PERMUTATIONS),
            sort_momentum=check_float("sort_momentum", sort_momentum, **mom),
            pareto_power=check_positive("pareto_power", pareto_power),
            min_prefix_length=min_prefix_length,
            normalize_input=normalize_input,
            norm_momentum=check_float("norm_momentum", norm_momentum, **mom),
        )
        enc = self._randn(d_in, n_latents) / math.sqrt(d_in)
        self.W_enc = self._param(enc)
        self.b_enc = self._param(torch.zeros(self.n_models, n_latents))
        self.W_dec = self._param(0.1 * unit_rows(enc.transpose(-1, -2)))
        self.b_dec = self._param(torch.zeros(self.n_models, d_in))
        self._buffer("running_norm", 0.0)
        self._buffer("l1", self._per_run_tensor(self.hyper["l1_coef"], torch.float64))
        self._buffer("sq_mean", torch.zeros(self.n_models, n_latents))
        self._buffer("perm", torch.arange(n_latents).repeat(self.n_models, 1))
        self._target = self._per_run_tensor(self.hyper["target_l0"], torch.float64)
        self._log_probs = prefix_length_probs(n_latents, min_prefix_length, pareto_power).log()
        self._pending = False

    # ------------------------------------------------------------------ pieces
    def _scale(self) -> torch.Tensor:
        """Input scale ``√d / a`` per run, (M, 1, 1); 1 while ``a`` is 0."""
        if not self.hyper["normalize_input"]:
            return torch.ones_like(self.running_norm)[:, None, None]
        a = self.running_norm
        s = torch.where(a > 0, math.sqrt(self.d_in) / a.clamp_min(torch.finfo(a.dtype).tiny),
                        torch.ones_like(a))
        return s[:, None, None]

    def _dec_norms(self) -> torch.Tensor:
        return self.W_dec.norm(dim=-1).clamp_min(torch.finfo(self.W_dec.dtype).tiny)

    def _dictionary(self) -> torch.Tensor:
        return self.W_dec / self._dec_norms()[..., None]

    def _prefix_mask(self) -> torch.Tensor:
        """``(M, P, N)`` bool: latent ``j`` belongs to prefix ``p`` of run ``m``."""
        n, p = self.n_latents, self.hyper["n_prefixes"]
        if p == 1:
            return torch.ones(self.n_models, 1, n, dtype=torch.bool, device=self.W_dec.device)
        # Gumbel-top-k: p - 1 distinct lengths, the law of sampling without replacement
        u = self._random.uniform((n,)).clamp_min(1e-300)
        keys = self._log_probs - torch.log(-torch.log(u))
        ends = keys.topk(p - 1, dim=-1).indices.sort(-1).values  # (M, p - 1)
        ends = torch.cat([ends, torch.full((self.n_models, 1), n)], -1).to(self.W_dec.device)
        return torch.arange(n, device=ends.device) < ends[..., None]

    def _prefix_errors(self, x: torch.Tensor, acts: torch.Tensor, mask: torch.Tensor,
                       scale: torch.Tensor | None = None, *, stats: tuple | None = None,
                       xx: torch.Tensor | None = None) -> torch.Tensor:
        """Squared error of every prefix, batch mean, (M, P), from per-run statistics.

        With ``c = s·x - b_dec`` (``s`` = ``scale``, 1 if None), ``G = W_dec W_decᵀ``,
        ``A = actsᵀ acts`` and ``Q = actsᵀ c`` (all N × N or N × d per run)::

            mean_b ||c - Σ_{j<e} a_j w_j||² = (Σ_b ||c_b||² + Σ_{j<e} T_j) / B
            T_j = A_jj G_jj + 2 Σ_{i<j} A_ij G_ij - 2 <Q_j, w_j>

        so the batch enters through two (B × N)-sized products only, whatever the number of
        prefixes: no (M, P, B, d) tensor, no per-sample error (float32 agrees with the direct
        reconstructions to ~1e-7 relative, the cancellation of any expanded square).
        ``stats``: :func:`_act_stats` of ``(acts, x)`` if already computed; ``xx``: the summed
        squared norms of the samples, (M,).
        """
        W, b = self.W_dec, self.b_dec
        n_batch = x.shape[1]
        s = torch.ones_like(x[:, 0, :1]) if scale is None else scale[:, :, 0]  # (M, 1)
        A, P, a_sum = _act_stats(acts, x) if stats is None else stats
        if xx is None:
            xx = (x * x).sum((1, 2))
        cc = s[:, 0] ** 2 * xx - 2 * s[:, 0] * (x.sum(1) * b).sum(-1) + n_batch * (b * b).sum(-1)
        Q = s[..., None] * P - a_sum[..., None] * b[:, None, :]
        G = torch.bmm(W, W.transpose(1, 2))
        T = (torch.diagonal(A, dim1=1, dim2=2) * torch.diagonal(G, dim1=1, dim2=2)
             + 2 * ((A * G.triu(1)).sum(-2) - (Q * W).sum(-1)))
        err = cc[:, None] + torch.bmm(mask.to(T.dtype), T[..., None]).squeeze(-1)
        return err / n_batch

    def _acts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scale (M, 1, 1) and ReLU activations (normalised space) of ``x`` (input scale).

        ``(s·x) W_enc = x (s·W_enc)``: the scale goes into the small matrix, never the batch.
        """
        s = self._scale()
        return s, torch.relu(torch.baddbmm(self.b_enc[:, None, :], x, self.W_enc * s))

    def _terms(self, x: torch.Tensor, s: torch.Tensor, acts: torch.Tensor, mask: torch.Tensor,
               xx: torch.Tensor | None = None):
        """Reconstruction and codes (input scale), mean prefix error and mean prefix L1.

        The error is measured in the normalised space, ``||s·x - pred||² = s²||x - x̂||²``
        with ``x̂ = pred / s``, so no scaled copy of the batch is formed. Also returns
        ``Σ_b acts²`` (M, N) when the prefix statistics hold it (else None).
        """
        norms = self._dec_norms()
        x_hat = torch.baddbmm(self.b_dec[:, None, :] / s, acts, self.W_dec / s)
        acts_sq = None
        if mask.shape[1] == 1:  # Vanilla: the direct error, as the toy computes it
            err = x_hat - x
            sq = (s[:, 0, 0] ** 2 * (err * err).sum((1, 2)) / x.shape[1])[:, None]
            a_mean = acts.mean(-2)
        else:
            stats = _act_stats(acts, x)
            sq = self._prefix_errors(x, acts, mask, s, stats=stats, xx=xx)
            a_mean = stats[2] / x.shape[1]
            acts_sq = torch.diagonal(stats[0], dim1=1, dim2=2).detach()
        recon = (sq / self.d_in if self.reduction == "mean" else sq).mean(-1)
        # mean over prefixes of each prefix's L1: latent j counts with the share of prefixes
        # holding it
        share = mask.to(acts.dtype).mean(1)
        l1 = (a_mean * norms * share).sum(-1)
        codes = acts * (norms[:, None, :] / s)
        return x_hat, codes, recon, l1, acts_sq

    def _output(self, x_hat, codes, recon, l1, coef) -> SAEOutput:
        aux = coef.to(l1.dtype) * l1
        return SAEOutput(x_hat, codes, recon + aux, recon, aux)

    # ------------------------------------------------------------------ API
    def _forward(self, x: torch.Tensor) -> SAEOutput:
        full = torch.ones(self.n_models, 1, self.n_latents, dtype=torch.bool, device=x.device)
        s, acts = self._acts(x)
        return self._output(*self._terms(x, s, acts, full)[:4], self.l1)

    def _training_step(self, x: torch.Tensor, step: int, n_steps: int) -> SAEOutput:
        h = self.hyper
        with torch.no_grad():
            sample_norms = x.norm(dim=-1)
            if h["normalize_input"]:
                mom = h["norm_momentum"]
                mean_norm = sample_norms.mean(-1).to(self.running_norm.dtype)
                self.running_norm.mul_(mom).add_((1 - mom) * mean_norm)
            mask = self._prefix_mask()
        s, acts = self._acts(x)
        x_hat, codes, recon, l1, acts_sq = self._terms(x, s, acts, mask,
                                                       xx=sample_norms.square().sum(-1))
        with torch.no_grad():
            # the coefficient applied to this step's loss already sees this batch's L0
            # (a count of positive activations: sign() sums exactly, and avoids a bool sum)
            l0 = acts.sign().sum((1, 2)).double() / acts.shape[1]
            coef, eff = adaptive_l1(self.l1, l0, self._target, step, n_steps, h["l1_rate"],
                                    h["l1_warmup"])
            self.l1.copy_(coef)
            if h["permute_latents"]:
                mom = h["sort_momentum"]
                # mean_b (a_bj ||w_j||)², from one reduction over the batch
                if acts_sq is None:
                    acts_sq = (acts * acts).sum(1)
                sq = acts_sq * self._dec_norms().square() / acts.shape[1]
                self.sq_mean.mul_(mom).add_((1 - mom) * sq)
                order = torch.sort(self.sq_mean, dim=-1, descending=True, stable=True)
                self.perm.copy_(order.indices)
                self._pending = True
        return self._output(x_hat, codes, recon, l1, eff)

    def post_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Apply the pending latent permutation to weights (and, if consistent, the state)."""
        if not self._pending:
            return
        self._pending = False
        perm = self.perm
        consistent = self.hyper["permutation"] == "consistent"
        with torch.no_grad():
            for p, dim in ((self.W_enc, 2), (self.b_enc, 1), (self.W_dec, 1)):
                p.copy_(_take(p, perm, dim))
                if consistent:
                    for val in optimizer.state.get(p, {}).values():
                        if isinstance(val, torch.Tensor) and val.shape == p.shape:
                            val.copy_(_take(val, perm, dim))
            if consistent:
                self.sq_mean.copy_(self.sq_mean.gather(1, perm))

    def _encode(self, x: torch.Tensor, k: int | None) -> torch.Tensor:
        s, acts = self._acts(x)
        codes = acts * (self._dec_norms()[:, None, :] / s)
        return codes if k is None else keep_top_k(codes, k)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Map codes (input scale) to inputs: ``codes @ dictionary + b_dec / scale``."""
        b = (self.b_dec / self._scale()[:, 0]).unsqueeze(-2)
        return codes @ self.dictionary + (b if self.batched else b[0])

    def stats(self) -> dict[str, torch.Tensor]:
        """L1 coefficient and running input norm per run."""
        return {"l1_coef": self.l1, "running_norm": self.running_norm}


def _take(t: torch.Tensor, perm: torch.Tensor, dim: int) -> torch.Tensor:
    """Permute the latent axis ``dim`` of ``t`` (M, …) with one permutation per run."""
    shape = [1] * t.dim()
    shape[0], shape[dim] = perm.shape
    idx = perm.view(shape).expand_as(t)
    return t.gather(dim, idx)
