"""One linear encoder layer + a linear decoder: the shared body of the non-MP SAEs."""

from __future__ import annotations

import torch

from mplib.sae._sparsity import unit_rows
from mplib.sae.base import BaseSAE


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
