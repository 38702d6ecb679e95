"""Matching-pursuit sparse autoencoder (MP-SAE): the encoder *is* :func:`mplib.pursuit.mp_loop`.

The pursuit unrolls inside the autoencoder (Costa et al., 2025, § 3 and App. C)::

    r = x - b ;  repeat: j = argmax score(D r) ; a = <d_j, r> ; z_j += a ; r -= a d_j
    x_hat = x - r  (= b + z D) ;  loss = ||x - x_hat||²

Selection indices are computed without gradient and only the selected atoms are gathered with
gradient (SAELens' fix: O(B·d) saved per step, never O(B·N)); gradients flow through every
selected coefficient and residual update, as in the paper. No sparsity penalty: sparsity is set
by the step budget ``k`` or by the stop rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from mplib.pursuit import _mp, _mp_jit, dense_codes, mp_loop
from mplib.sae._common import check_choice, check_float, check_int, check_positive
from mplib.sae.base import BaseSAE, SAEOutput

__all__ = ["MPSAE"]

SELECTIONS = ("positive", "signed", "abs")
COEFFICIENTS = ("correlation", "projection")

GRAM_MAX_ENTRIES = 2**28
"""Largest Gram stack (runs × N × N entries: 1 GiB in fp32) the encoder builds for a large
dictionary on the CPU (see :func:`_large_gram`)."""


def _large_gram(x: torch.Tensor, n_atoms: int, n_steps: int) -> bool:
    """Whether to run a dictionary larger than ``mp_loop``'s Gram limit in its Gram regime.

    ``mp_loop`` keeps dictionaries of more than :data:`mplib.pursuit._mp.GRAM_MAX_ATOMS` atoms
    in the residual regime, which pays ``S·B·N·d`` multiply-adds for ``S`` steps of ``B``
    signals. The compiled CPU Gram regime pays ``N²·d`` (the Gram matrix) plus ``B·N·d`` (the
    first correlations), then ``O(B·N)`` per step, and its analytic backward pass is
    ``O(S·B·d)``; it wins whenever ``N + B < S·B / 2`` (measured at d = 576, N = 2,304,
    B = 1,024, S = 32: ~10x faster forward and backward). Same steps, same rules: codes and
    gradients agree with the residual regime to rounding (``mp_loop``'s tests).
    """
    n_runs = x.shape[0]
    n_signals = x.shape[-2]
    return (n_atoms > _mp.GRAM_MAX_ATOMS and _mp.GRAM_BACKEND != "torch"
            and _mp_jit.supports(x) and n_runs * n_atoms * n_atoms <= GRAM_MAX_ENTRIES
            and 2 * (n_atoms + n_signals) < n_steps * n_signals)


class MPSAE(BaseSAE):
    """Tied matching-pursuit SAE; the toy mode of ``mpsae/MP-SAE`` is the default.

    Two ways to stop the pursuit, per sample: a fixed budget of ``k`` steps (atoms may be
    picked again, coefficients accumulate, so realised L0 <= k), and the toy's rule: stop once
    the residual norm falls below ``threshold`` or a step leaves the support unchanged (that
    step is applied first). Both may be combined; the loop runs until every sample of every run
    has stopped.

    Parameters
    ----------
    d_in, n_latents : int
        Input dimension and number of atoms.
    k : int or sequence of int (one per run), optional
        Step budget. None (default) uses ``max_steps``.
    threshold : float or sequence of float (one per run), optional, default=0.05
        Stop a sample once its residual norm is below ``threshold`` (toy: 0.05; Fig. 16: 0.6).
        Checked before each step on the squared norm (``||r||² <= threshold²``), which equals
        the toy's check after each step except for inputs already below it (they take no step).
    stop_on_unchanged_support : bool, default=True
        The toy rule: a step that re-picks a used atom is applied, then the sample stops.
    selection : {"positive", "signed", "abs"}, default="positive"
        ``argmax relu(c)`` (codes >= 0; the sample stops when no correlation is positive),
        ``argmax c`` (overcomplete) or ``argmax |c|`` (classical MP).
    coefficient : {"correlation", "projection"}, default="correlation"
        Raw ``<d_j, r>`` (the toy, whose atoms drift from unit norm) or ``<d_j, r>/||d_j||²``.
    max_steps : int, optional
        Safety cap when ``k`` is None. None: ``n_latents + 1`` with the unchanged-support rule
        (each step then adds a new atom or stops, so the loop cannot run longer: the cap never
        binds), else ``4 * d_in``.
    pre_bias : bool, default=False
        Learn a bias ``b`` subtracted before the pursuit and added back at decoding (MOSS
        workshop recipe; set ``model.b_pre`` to the geometric median to initialise it).
    atom_dropout : float in [0, 1), default=0.0
        In training mode, drop each atom with this probability for a whole forward pass (one
        mask per forward and run, as overcomplete); inference never drops.
    revive_coef : float, default=0.0
        Weight of the revive term: ``-revive_coef ×`` mean correlation of the final residual
        with the atoms that fired for no sample of the batch (paper App. B.2: 1e-5).
    n_models, seed, reduction, dtype, device
        See :class:`~mplib.sae.base.BaseSAE`.

    Notes
    -----
    Atoms are drawn from N(0, 1) and normalised to unit rows at initialisation only (the toy);
    constrain them during training with ``TrainConfig(decoder_norm="unit")``.
    ``encode(x, k=k2)`` runs exactly ``k2`` steps with the stop rules off (continue or stop the
    pursuit: the adaptive-sparsity figures); under ``"positive"`` selection a sample still stops
    when no correlation is positive.

    Costa, Fel, Lubana, Tolooshams, Ba, "From Flat to Hierarchical: Extracting Sparse
    Representations with Matching Pursuit", arXiv 2506.03093 (2025).

    Examples
    --------
    >>> sae = MPSAE(20, 20, n_models=3, seed=0)   # the toy recipe, three runs
    >>> out = sae(torch.randn(3, 8, 20))
    >>> out.codes.shape, out.loss.shape
    (torch.Size([3, 8, 20]), torch.Size([3]))
    """

    per_run = ("k", "threshold")
    decoder_name = "W"

    def __init__(
        self,
        d_in: int,
        n_latents: int,
        *,
        k: int | Sequence[int] | None = None,
        threshold: float | Sequence[float] | None = 0.05,
        stop_on_unchanged_support: bool = True,
        selection: str = "positive",
        coefficient: str = "correlation",
        max_steps: int | None = None,
        pre_bias: bool = False,
        atom_dropout: float = 0.0,
        revive_coef: float = 0.0,
        n_models: int | None = None,
        seed: int | Sequence[int] = 0,
        reduction: str = "sum",
        dtype: torch.dtype = torch.float32,
        device: Any = "cpu",
    ):
        super().__init__(d_in, n_latents, n_models=n_models, seed=seed, reduction=reduction,
                         dtype=dtype, device=device)
        k = self._per_run_value("k", k, check_int, allow_none=True)
        threshold = self._per_run_value("threshold", threshold, check_positive, allow_none=True)
        if max_steps is not None:
            max_steps = check_int("max_steps", max_steps)
        if not isinstance(stop_on_unchanged_support, bool):
            raise TypeError("stop_on_unchanged_support must be a bool")
        if not isinstance(pre_bias, bool):
            raise TypeError("pre_bias must be a bool")
        self.hyper = dict(
            k=k,
            threshold=threshold,
            stop_on_unchanged_support=stop_on_unchanged_support,
            selection=check_choice("selection", selection, SELECTIONS),
            coefficient=check_choice("coefficient", coefficient, COEFFICIENTS),
            max_steps=max_steps,
            pre_bias=pre_bias,
            atom_dropout=check_float("atom_dropout", atom_dropout, low=0.0, high=1.0,
                                     high_open=True),
            revive_coef=check_float("revive_coef", revive_coef, low=0.0),
        )
        W = self._randn(n_latents, d_in)
        self.W = self._param(W / W.norm(dim=-1, keepdim=True))
        self.b_pre = self._param(torch.zeros(self.n_models, d_in)) if pre_bias else None
        if max_steps is None:
            max_steps = n_latents + 1 if stop_on_unchanged_support else 4 * d_in
        self._cap = max_steps
        self._k = None if k is None else self._per_run_tensor(k, torch.long)
        self._tol = None if threshold is None else self._per_run_tensor(threshold) ** 2

    # ------------------------------------------------------------------ pursuit
    def _pursue(self, x: torch.Tensor, D: torch.Tensor, k: int | None):
        """Run the pursuit on ``x`` (M, B, d); ``k`` overrides budget and stop rules."""
        h = self.hyper
        n_signals = x.shape[1]
        if k is not None:
            budget, tol, support = k, None, False
        else:
            budget = self._cap if self._k is None else self._k[:, None].expand(-1, n_signals)
            tol = None if self._tol is None else self._tol[:, None].expand(-1, n_signals)
            support = h["stop_on_unchanged_support"]
        if self.b_pre is not None:
            x = x - self.b_pre[:, None, :]
        rules = dict(selection=h["selection"], coefficient=h["coefficient"])
        max_budget = budget if isinstance(budget, int) else int(budget.max())
        if _large_gram(x, self.n_latents, max_budget):
            # mp_loop's own Gram regime, past its size limit (see _large_gram); the same
            # arguments mp_loop would pass
            steps = torch.as_tensor(budget, device=x.device).expand(*x.shape[:-1])
            return _mp._gram_mp(x, D, steps, tol, 0.0, None,
                                dict(rules, normalize=False, allow_reselect=True,
                                     support=support))
        return mp_loop(x, D, n_steps=budget, tol=tol, stop_on_unchanged_support=support,
                       **rules)

    def _atoms(self) -> torch.Tensor:
        p = self.hyper["atom_dropout"]
        if not (self.training and p > 0):
            return self.W
        keep = self._random.uniform((self.n_latents,)) >= p  # (M, N), per run
        return self.W * keep.to(device=self.W.device, dtype=self.W.dtype)[..., None]

    def _forward(self, x: torch.Tensor) -> SAEOutput:
        trace = self._pursue(x, self._atoms(), None)
        codes = dense_codes(trace.indices, trace.values, self.n_latents)
        x_hat = x - trace.residual
        recon = self._loss_recon(trace.residual)
        aux = torch.zeros_like(recon)
        if self.hyper["revive_coef"] > 0:
            aux = aux + self._revive(trace.residual, codes)
        return SAEOutput(x_hat, codes, recon + aux, recon, aux)

    def _revive(self, residual: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        # mean_{b, dead j} <r_b, d_j> = <mean_b r_b, sum_dead d_j> / n_dead: O(B·d + N·d), not
        # the O(B·N) correlation matrix
        with torch.no_grad():
            dead = ~(codes != 0).any(-2)  # (M, N)
            n_dead = dead.sum(-1)
        summed = (dead.to(self.W.dtype)[..., None] * self.W).sum(-2)  # (M, d)
        mean_corr = (residual.mean(-2) * summed).sum(-1) / n_dead.clamp_min(1)
        return -self.hyper["revive_coef"] * mean_corr

    def _encode(self, x: torch.Tensor, k: int | None) -> torch.Tensor:
        trace = self._pursue(x, self.W, k)
        return dense_codes(trace.indices, trace.values, self.n_latents)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Map codes ``(..., B, n_latents)`` back to inputs: ``codes @ W (+ b_pre)``."""
        out = codes @ self.dictionary
        if self.b_pre is not None:
            out = out + (self.b_pre if self.batched else self.b_pre[0]).unsqueeze(-2)
        return out

    def pursuit_trace(self, x: torch.Tensor, k: int | None = None):
        """Full :class:`~mplib.pursuit.MPTrace` of the encoder (indices, values, residual).

        Same rules as :meth:`encode` (no gradient); shapes carry the runs dimension only when
        batched.
        """
        x3, squeeze = self._prepare(x)
        if k is not None:
            k = check_int("k", k, low=0)
        with torch.no_grad():
            trace = self._pursue(x3, self.W, k)
        return type(trace)(*(t.squeeze(0) for t in trace)) if squeeze else trace
