"""One linear encoder layer + a linear decoder: the shared body of the non-MP SAEs."""

from __future__ import annotations

import torch

from mplib.sae._sparsity import unit_rows
from mplib.sae.base import BaseSAE, SAEOutput


class LinearSAE(BaseSAE, abstract=True):
    """``pre = (x - b_dec·[subtract_dec_bias]) @ W_enc + b_enc``; ``x_hat = z @ W_dec + b_dec``.

    Parameters (M = runs): ``W_enc`` (M, d_in, n_latents), ``b_enc`` (M, n_latents),
    ``W_dec`` (M, n_latents, d_in), ``b_dec`` (M, d_in).
    """

    subtract_dec_bias: bool = True

    def _init_linear(self, init: str) -> None:
        """``"tied"``: unit random atoms, ``W_enc = W_decᵀ``; ``"toy"``: the toy BatchTopK.

        The toy draws ``W_enc ~ N(0, 1)`` and sets ``W_dec`` to its unit columns, transposed.
        """
        m, d, n = self.n_models, self.d_in, self.n_latents
        if init == "tied":
            dec = unit_rows(self._randn(n, d))
            enc = dec.transpose(-1, -2)
        else:
            enc = self._randn(d, n)
            dec = unit_rows(enc.transpose(-1, -2))
        self.W_enc = self._param(enc)
        self.b_enc = self._param(torch.zeros(m, n))
        self.W_dec = self._param(dec)
        self.b_dec = self._param(torch.zeros(m, d))

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """Return the encoder pre-activations ``(M, B, n_latents)`` of ``x`` (M, B, d_in)."""
        if self.subtract_dec_bias:
            x = x - self.b_dec[:, None, :]
        return torch.baddbmm(self.b_enc[:, None, :], x, self.W_enc)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Map codes ``(..., B, n_latents)`` to inputs: ``codes @ dictionary + b_dec``."""
        b = self.b_dec if self.batched else self.b_dec[0]
        return codes @ self.dictionary + b.unsqueeze(-2)

    def _decode3(self, z: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.b_dec[:, None, :], z, self.W_dec)

    def revive_term(self, x: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Return the revive term per run, ``-revive_coef × mean pre-activation of dead units``.

        The MP-SAE paper's real-data recipe (App. B.2) adds a small term "on the pre-codes of
        units that did not fire in the batch", pushing their pre-activations up until they fire
        again: here the mean over the batch and over the units with no non-zero code in
        ``codes`` of ``pre_bj``, times ``-revive_coef``; zero for a run with no such unit.
        Because the mean is linear it costs ``O(B·d + N·d)``, never the ``B × N`` matrix:
        ``mean_b pre_bj = (mean_b x̃_b) · W_enc[:, j] + b_enc[j]``.

        Parameters
        ----------
        x : Tensor of shape (M, B, d_in)
        codes : Tensor of shape (M, B, n_latents)
        """
        with torch.no_grad():
            dead = ~(codes != 0).any(-2)  # (M, N)
            n_dead = dead.sum(-1)
        xm = x.mean(-2)
        if self.subtract_dec_bias:
            xm = xm - self.b_dec
        w = dead.to(self.W_enc.dtype)
        summed = torch.bmm(xm[:, None, :], self.W_enc)[:, 0] * w  # (M, N), dead units only
        mean_pre = (summed.sum(-1) + (self.b_enc * w).sum(-1)) / n_dead.clamp_min(1)
        return -self.hyper["revive_coef"] * mean_pre

    def _add_revive(self, x: torch.Tensor, out: SAEOutput) -> SAEOutput:
        if not self.hyper.get("revive_coef"):
            return out
        revive = self.revive_term(x, out.codes)
        return out._replace(loss=out.loss + revive, aux_loss=out.aux_loss + revive)
