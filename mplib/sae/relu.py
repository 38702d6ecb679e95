"""ReLU SAE with an L1 penalty whose coefficient steers the batch L0 to a target."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mplib.sae._common import check_float, check_nonneg, check_positive, keep_top_k
from mplib.sae._linear import LinearSAE
from mplib.sae._sparsity import adaptive_l1
from mplib.sae.base import SAEOutput

__all__ = ["ReLUSAE"]


class ReLUSAE(LinearSAE):
    """``z = relu((x - b_dec) W_enc + b_enc)``, ``x_hat = z W_dec + b_dec``, L1 on ``z·||W_dec||``.

    Parameters
    ----------
    d_in, n_latents : int
    l1_coef : float or sequence of float (one per run), default=1e-3
        Initial L1 coefficient.
    target_l0 : float or sequence of float (one per run), optional
        When given, the coefficient adapts multiplicatively (``l1_rate`` per step) after the
        warm-up so that the batch L0 approaches it (the vision recipe's adaptive L1; the
        controller of the toy's Vanilla SAE, :func:`mplib.sae._sparsity.adaptive_l1`).
    l1_rate : float, default=3e-4
    l1_warmup : float in [0, 1], default=0.2
        Fraction of the steps over which the applied coefficient ramps up linearly.
    revive_coef : float, default=0.0
        Weight of the revive term (see :meth:`LinearSAE.revive_term`); the MP-SAE paper's
        real-data recipe uses 1e-5.
    n_models, seed, reduction, dtype, device
        See :class:`~mplib.sae.base.BaseSAE`.

    Notes
    -----
    The L1 term is weighted by the decoder row norms, so the codes reported are
    ``z · ||W_dec_j||`` and :attr:`dictionary` holds unit rows (``x_hat = codes @ dictionary +
    b_dec``). Initialisation: random unit atoms, ``W_enc = W_decᵀ``, zero biases.
    ``encode(x, k)`` keeps the ``k`` largest codes of each sample (our definition).
    """

    per_run = ("l1_coef", "target_l0")

    def __init__(
        self,
        d_in: int,
        n_latents: int,
        *,
        l1_coef: float | Sequence[float] = 1e-3,
        target_l0: float | Sequence[float] | None = None,
        l1_rate: float = 3e-4,
        l1_warmup: float = 0.2,
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
            l1_coef=self._per_run_value("l1_coef", l1_coef, check_nonneg),
            target_l0=self._per_run_value("target_l0", target_l0, check_positive, allow_none=True),
            l1_rate=check_float("l1_rate", l1_rate, low=0.0, high=1.0, high_open=True),
            l1_warmup=check_float("l1_warmup", l1_warmup, low=0.0, high=1.0),
            revive_coef=check_float("revive_coef", revive_coef, low=0.0),
        )
        self._init_linear("tied")
        self._buffer("l1", self._per_run_tensor(self.hyper["l1_coef"], torch.float64))
        tgt = self.hyper["target_l0"]
        self._target = None if tgt is None else self._per_run_tensor(tgt, torch.float64)

    def _dictionary(self) -> torch.Tensor:
        return self.W_dec / self._dec_norms()[..., None]

    def _dec_norms(self) -> torch.Tensor:
        return self.W_dec.norm(dim=-1).clamp_min(torch.finfo(self.W_dec.dtype).tiny)

    def _run(self, x: torch.Tensor, coef: torch.Tensor, z: torch.Tensor | None = None):
        if z is None:
            z = torch.relu(self.pre_activation(x))
        norms = self._dec_norms()
        x_hat = self._decode3(z)
        recon = self._loss_recon(x - x_hat)
        l1 = (z * norms[:, None, :]).sum(-1).mean(-1)
        aux = coef.to(l1.dtype) * l1
        return SAEOutput(x_hat, z * norms[:, None, :], recon + aux, recon, aux)

    def _forward(self, x: torch.Tensor) -> SAEOutput:
        return self._run(x, self.l1)

    def _training_step(self, x: torch.Tensor, step: int, n_steps: int) -> SAEOutput:
        z = torch.relu(self.pre_activation(x))
        with torch.no_grad():
            l0 = (z > 0).sum(-1).double().mean(-1)
            coef, eff = adaptive_l1(self.l1, l0, self._target, step, n_steps,
                                    self.hyper["l1_rate"], self.hyper["l1_warmup"])
            self.l1.copy_(coef)
        return self._run(x, eff, z)

    def _encode(self, x: torch.Tensor, k: int | None) -> torch.Tensor:
        codes = torch.relu(self.pre_activation(x)) * self._dec_norms()[:, None, :]
        return codes if k is None else keep_top_k(codes, k)

    def stats(self) -> dict[str, torch.Tensor]:
        """Return the current L1 coefficient per run."""
        return {"l1_coef": self.l1}
