"""TopK SAE (Gao et al., 2024) with the optional AuxK loss for dead latents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mplib.sae._common import check_float, check_int, keep_top_k
from mplib.sae._linear import LinearSAE
from mplib.sae.base import SAEOutput

__all__ = ["TopKSAE"]


class TopKSAE(LinearSAE):
    """``z = TopK_k(relu((x - b_dec) W_enc + b_enc))``, ``x_hat = z W_dec + b_dec``.

    Parameters
    ----------
    d_in, n_latents : int
    k : int or sequence of int (one per run), default=8
        Active latents per sample (``<= n_latents``).
    aux_k : int, optional
        Enables AuxK: the ``aux_k`` largest pre-activations among dead latents reconstruct the
        main model's error ``e = x - x_hat`` (detached); loss ``aux_coef · ||e - ê||²`` with
        the model's reduction. Gao et al. use ``d_in // 2``; MOSS ``n_latents // 2``.
    aux_coef : float, default=1/32
    dead_steps : int, default=100
        A latent is dead after this many consecutive training steps without firing.
    revive_coef : float, default=0.0
        Weight of the revive term (see :meth:`LinearSAE.revive_term`); the MP-SAE paper's
        real-data recipe uses 1e-5.
    n_models, seed, reduction, dtype, device
        See :class:`~mplib.sae.base.BaseSAE`.

    Notes
    -----
    Initialisation: random unit atoms, ``W_enc = W_decᵀ``, zero biases.
    ``encode(x, k2)`` keeps the ``k2`` largest ReLU pre-activations (TopK with ``k2``).

    Gao et al., "Scaling and evaluating sparse autoencoders", arXiv 2406.04093 (2024).
    """

    per_run = ("k",)

    def __init__(
        self,
        d_in: int,
        n_latents: int,
        *,
        k: int | Sequence[int] = 8,
        aux_k: int | None = None,
        aux_coef: float = 1 / 32,
        dead_steps: int = 100,
        revive_coef: float = 0.0,
        n_models: int | None = None,
        seed: int | Sequence[int] = 0,
        reduction: str = "sum",
        dtype: torch.dtype = torch.float32,
        device: Any = "cpu",
    ):
        super().__init__(d_in, n_latents, n_models=n_models, seed=seed, reduction=reduction,
                         dtype=dtype, device=device)

        def k_check(name: str, v: Any) -> int:
            v = check_int(name, v)
            if v > n_latents:
                raise ValueError(f"{name} must be <= n_latents={n_latents}, got {v}")
            return v

        self.hyper = dict(
            k=self._per_run_value("k", k, k_check),
            aux_k=None if aux_k is None else k_check("aux_k", aux_k),
            aux_coef=check_float("aux_coef", aux_coef, low=0.0),
            dead_steps=check_int("dead_steps", dead_steps),
            revive_coef=check_float("revive_coef", revive_coef, low=0.0),
        )
        self._init_linear("tied")
        self._k = self.hyper["k"]  # an int, or a list of ints (one per run)
        self._buffer("since_fired", torch.zeros(self.n_models, n_latents, dtype=torch.long))

    def _run(self, x: torch.Tensor, train: bool) -> SAEOutput:
        pre = self.pre_activation(x)
        z = keep_top_k(torch.relu(pre), self._k)
        x_hat = self._decode3(z)
        err = x - x_hat
        recon = self._loss_recon(err)
        aux = torch.zeros_like(recon)
        if self.hyper["aux_k"] is not None:
            dead = self.since_fired >= self.hyper["dead_steps"]  # (M, N)
            if train:
                with torch.no_grad():
                    fired = (z != 0).any(-2)
                    self.since_fired.add_(1).masked_fill_(fired, 0)
            z_aux = keep_top_k(torch.relu(pre) * dead[:, None, :].to(pre.dtype),
                               self.hyper["aux_k"])
            e_hat = z_aux @ self.W_dec
            any_dead = dead.any(-1).to(recon.dtype)
            aux = self.hyper["aux_coef"] * any_dead * self._loss_recon(err.detach() - e_hat)
        return SAEOutput(x_hat, z, recon + aux, recon, aux)

    def _forward(self, x: torch.Tensor) -> SAEOutput:
        return self._run(x, False)

    def _training_step(self, x: torch.Tensor, step: int, n_steps: int) -> SAEOutput:
        return self._run(x, True)

    def _encode(self, x: torch.Tensor, k: int | None) -> torch.Tensor:
        return keep_top_k(torch.relu(self.pre_activation(x)), self._k if k is None else k)

    def stats(self) -> dict[str, torch.Tensor]:
        """Fraction of dead latents per run (AuxK's definition)."""
        dead = self.since_fired >= self.hyper["dead_steps"]
        return {"dead_fraction": dead.double().mean(-1)}
