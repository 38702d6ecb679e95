"""JumpReLU SAE (Rajamanoharan et al., 2024): learned thresholds, straight-through estimators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mplib.sae._common import check_float, check_nonneg, check_positive, keep_top_k
from mplib.sae._linear import LinearSAE
from mplib.sae.base import SAEOutput

__all__ = ["JumpReLUSAE"]


def _kernel(pre: torch.Tensor, theta: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Rectangle kernel ``K((pre - theta)/bandwidth) / bandwidth``, ``K(u) = 1{|u| < 1/2}``."""
    return ((pre - theta).abs() < bandwidth / 2).to(pre.dtype) / bandwidth


def _reduce_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum a broadcast gradient back to ``shape`` (the thresholds' (M, 1, N))."""
    return grad.sum(-2, keepdim=True) if grad.shape != shape else grad


class _JumpReLU(torch.autograd.Function):
    """``pre · H(pre - θ)``; d/dθ through the STE ``-θ/ε · K((pre - θ)/ε)``."""

    @staticmethod
    def forward(ctx, pre, theta, bandwidth):
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return pre * (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        g_pre = grad * (pre > theta).to(pre.dtype)
        g_theta = -theta * _kernel(pre, theta, ctx.bandwidth) * grad
        return g_pre, _reduce_to(g_theta, theta.shape), None


class _Step(torch.autograd.Function):
    """``H(pre - θ)``; no gradient to ``pre``, d/dθ through ``-1/ε · K((pre - θ)/ε)``."""

    @staticmethod
    def forward(ctx, pre, theta, bandwidth):
        ctx.save_for_backward(pre, theta)
        ctx.bandwidth = bandwidth
        return (pre > theta).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, theta = ctx.saved_tensors
        g_theta = -_kernel(pre, theta, ctx.bandwidth) * grad
        return None, _reduce_to(g_theta, theta.shape), None


class JumpReLUSAE(LinearSAE):
    """``z = pre · H(pre - θ)`` with ``pre = (x - b_dec) W_enc + b_enc`` and learned ``θ > 0``.

    Parameters
    ----------
    d_in, n_latents : int
    threshold_init : float, default=0.1
        Initial threshold of every latent (stored as ``log θ``; MOSS: 0.1).
    bandwidth : float, default=0.1
        Width ε of the rectangle kernel of the straight-through estimators (MOSS: 0.1).
    sparsity_coef : float or sequence of float (one per run), default=1e-3
        Weight of the L0 penalty.
    target_l0 : float or sequence of float (one per run), optional
        None: penalty ``sparsity_coef · L0`` (Rajamanoharan et al.); given: the MOSS form
        ``sparsity_coef · (L0/target_l0 - 1)²``. L0 is the batch mean of ``Σ_j H(pre_j - θ_j)``.
    revive_coef : float, default=0.0
        Weight of the revive term (see :meth:`LinearSAE.revive_term`); the MP-SAE paper's
        real-data recipe uses 1e-5.
    n_models, seed, reduction, dtype, device
        See :class:`~mplib.sae.base.BaseSAE`.

    Notes
    -----
    Initialisation: random unit atoms, ``W_enc = W_decᵀ``, zero biases. ``encode(x, k)``
    keeps the ``k`` largest JumpReLU codes of each sample (our definition).

    Rajamanoharan et al., "Jumping Ahead: Improving Reconstruction Fidelity with JumpReLU
    Sparse Autoencoders", arXiv 2407.14435 (2024).
    """

    per_run = ("sparsity_coef", "target_l0")

    def __init__(
        self,
        d_in: int,
        n_latents: int,
        *,
        threshold_init: float = 0.1,
        bandwidth: float = 0.1,
        sparsity_coef: float | Sequence[float] = 1e-3,
        target_l0: float | Sequence[float] | None = None,
        revive_coef: float = 0.0,
        n_models: int | None = None,
        seed: int | Sequence[int] = 0,
        reduction: str = "sum",
        dtype: torch.dtype = torch.float32,
        device: Any = "cpu",
    ):
        super().__init__(d_in, n_latents, n_models=n_models, seed=seed, reduction=reduction,
                         dtype=dtype, device=device)
        self.hyper = dict(
            threshold_init=check_positive("threshold_init", threshold_init),
            bandwidth=check_positive("bandwidth", bandwidth),
            sparsity_coef=self._per_run_value("sparsity_coef", sparsity_coef, check_nonneg),
            target_l0=self._per_run_value("target_l0", target_l0, check_positive, allow_none=True),
            revive_coef=check_float("revive_coef", revive_coef, low=0.0),
        )
        self._init_linear("tied")
        log_t = torch.full((self.n_models, n_latents), float(torch.tensor(threshold_init).log()))
        self.log_threshold = self._param(log_t)
        self._coef = self._per_run_tensor(self.hyper["sparsity_coef"])
        tgt = self.hyper["target_l0"]
        self._target = None if tgt is None else self._per_run_tensor(tgt)

    def _forward(self, x: torch.Tensor) -> SAEOutput:
        pre = self.pre_activation(x)
        theta = self.log_threshold.exp()[:, None, :]
        bw = self.hyper["bandwidth"]
        z = _JumpReLU.apply(pre, theta, bw)
        x_hat = self._decode3(z)
        recon = self._loss_recon(x - x_hat)
        l0 = _Step.apply(pre, theta, bw).sum(-1).mean(-1)
        if self._target is None:
            aux = self._coef * l0
        else:
            aux = self._coef * (l0 / self._target - 1) ** 2
        return SAEOutput(x_hat, z, recon + aux, recon, aux)

    def _encode(self, x: torch.Tensor, k: int | None) -> torch.Tensor:
        pre = self.pre_activation(x)
        z = pre * (pre > self.log_threshold.exp()[:, None, :]).to(pre.dtype)
        return z if k is None else keep_top_k(z, k)

    def stats(self) -> dict[str, torch.Tensor]:
        """Mean threshold per run."""
        return {"mean_threshold": self.log_threshold.detach().exp().mean(-1)}
