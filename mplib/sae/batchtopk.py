"""BatchTopK SAE (Bussmann et al., 2024) as in the MP-SAE toy: batch-level top-k, EMA threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mplib.sae._common import check_float, check_int, check_positive, keep_top_k
from mplib.sae._linear import LinearSAE
from mplib.sae.base import SAEOutput

__all__ = ["BatchTopKSAE"]


class BatchTopKSAE(LinearSAE):
    """Keep the ``int(L0·B) + 1`` largest ReLU pre-activations of the whole batch (training).

    At inference a latent fires when its pre-activation is at least ``threshold``, an EMA of
    the smallest value kept in training (NaN, so nothing fires, before the first step).

    Parameters
    ----------
    d_in, n_latents : int
    target_l0 : float or sequence of float (one per run), default=1.36
        Mean active latents per sample in training (the toy's tree L0).
    initial_target_l0 : float, optional, default=3.0
        Target used for the first ``initial_steps`` steps (the toy: 3 for 1,000 steps).
    initial_steps : int, default=1000
    threshold_momentum : float in [0, 1), default=0.9
    revive_coef : float, default=0.0
        Weight of the revive term (see :meth:`LinearSAE.revive_term`); the MP-SAE paper's
        real-data recipe uses 1e-5.
    n_models, seed, reduction, dtype, device
        See :class:`~mplib.sae.base.BaseSAE`.

    Notes
    -----
    As the toy (``mpsae/MP-SAE`` ``sae.py``): ``pre = x W_enc + b_enc`` (no decoder-bias
    subtraction, no input normalisation), ``W_enc ~ N(0, 1)`` of shape (d_in, n_latents) and
    ``W_dec`` = its unit columns, transposed (the toy stores the encoder transposed, harmless
    only because d_in = n_latents = 20). The inference codes are the
    pre-activations above the threshold. ``encode(x, k)`` keeps the ``k`` largest ReLU
    pre-activations of each sample (our definition).

    Bussmann, Leask, Nanda, "BatchTopK Sparse Autoencoders", arXiv 2412.06410 (2024).
    """

    per_run = ("target_l0",)
    subtract_dec_bias = False

    def __init__(
        self,
        d_in: int,
        n_latents: int,
        *,
        target_l0: float | Sequence[float] = 1.36,
        initial_target_l0: float | None = 3.0,
        initial_steps: int = 1000,
        threshold_momentum: float = 0.9,
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
            target_l0=self._per_run_value("target_l0", target_l0, check_positive),
            initial_target_l0=None if initial_target_l0 is None
            else check_positive("initial_target_l0", initial_target_l0),
            initial_steps=check_int("initial_steps", initial_steps, low=0),
            threshold_momentum=check_float("threshold_momentum", threshold_momentum, low=0.0,
                                           high=1.0, high_open=True),
            revive_coef=check_float("revive_coef", revive_coef, low=0.0),
        )
        self._init_linear("toy")
        self._buffer("threshold", float("nan"))

    def _batch_k(self, step: int, batch: int) -> list[int]:
        """Kept entries per run: ``int(L0 · batch) + 1`` with the run's current target."""
        h = self.hyper
        if h["initial_target_l0"] is not None and step < h["initial_steps"]:
            targets = [h["initial_target_l0"]] * self.n_models
        else:
            t = h["target_l0"]
            targets = t if isinstance(t, list) else [t] * self.n_models
        flat = batch * self.n_latents
        return [min(int(l0 * batch) + 1, flat) for l0 in targets]

    def _training_step(self, x: torch.Tensor, step: int, n_steps: int) -> SAEOutput:
        m, b, n = x.shape[0], x.shape[1], self.n_latents
        pre = self.pre_activation(x)
        ks = self._batch_k(step, b)
        flat = torch.relu(pre).reshape(m, b * n)
        k_max = max(ks)
        if min(ks) == k_max:  # one k for all runs: the set is enough (~25 % cheaper unsorted)
            vals, idx = flat.topk(k_max, dim=-1, sorted=False)
            with torch.no_grad():
                smallest = vals.amin(-1)
        else:
            vals, idx = flat.topk(k_max, dim=-1, sorted=True)
            k_t = torch.tensor(ks, device=x.device)
            rank = torch.arange(k_max, device=x.device)
            vals = torch.where(rank < k_t[:, None], vals, torch.zeros_like(vals))
            with torch.no_grad():
                smallest = vals.gather(-1, (k_t - 1)[:, None]).squeeze(-1)
        z = torch.zeros_like(flat).scatter(-1, idx, vals).reshape(m, b, n)
        with torch.no_grad():
            mom = self.hyper["threshold_momentum"]
            ema = mom * self.threshold + (1 - mom) * smallest
            self.threshold.copy_(torch.where(torch.isnan(self.threshold), smallest, ema))
        return self._output(x, z)

    def _output(self, x: torch.Tensor, z: torch.Tensor) -> SAEOutput:
        x_hat = self._decode3(z)
        recon = self._loss_recon(x - x_hat)
        return SAEOutput(x_hat, z, recon, recon, torch.zeros_like(recon))

    def _forward(self, x: torch.Tensor) -> SAEOutput:
        return self._output(x, self._gate(self.pre_activation(x)))

    def _gate(self, pre: torch.Tensor) -> torch.Tensor:
        return pre * (pre >= self.threshold[:, None, None]).to(pre.dtype)

    def _encode(self, x: torch.Tensor, k: int | None) -> torch.Tensor:
        pre = self.pre_activation(x)
        return self._gate(pre) if k is None else keep_top_k(torch.relu(pre), k)

    def stats(self) -> dict[str, torch.Tensor]:
        """Return the inference threshold per run."""
        return {"threshold": self.threshold}
