"""The small base every sparse autoencoder shares: runs dimension, seeds, I/O shapes, output.

Every model holds ``n_models`` independent runs ("runs" dimension, leading every parameter and
buffer), so a sweep of many small SAEs trains as one batched model and run ``m`` of a batch
equals the same model trained alone with ``seed=seeds[m]``. A model built without ``n_models``
is *unbatched*: internally one run, but it takes ``(B, d_in)`` inputs and returns ``(B, ·)``.

Conventions (house style): samples and atoms are rows, ``x_hat = codes @ dictionary + bias``;
losses are per run, shape ``(n_models,)`` (``()`` unbatched); ``reduction="sum"`` is the
squared error summed over features and averaged over samples (the MP-SAE toy), ``"mean"`` the
mean over all entries (``overcomplete``'s MSE).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn

from mplib.repro import derive_seed, resolve_device, torch_generator
from mplib.sae._common import RunRandom, check_choice, check_int, keep_top_k

__all__ = ["REGISTRY", "BaseSAE", "SAEOutput", "keep_top_k"]

REDUCTIONS = ("sum", "mean")
REGISTRY: dict[str, type[BaseSAE]] = {}
"""Model classes by name (filled by subclassing); used to rebuild a model from its config."""


class SAEOutput(NamedTuple):
    """What a sparse autoencoder's forward pass returns."""

    x_hat: torch.Tensor
    """Reconstruction, shape of the input ``(..., B, d_in)``, in input scale."""
    codes: torch.Tensor
    """Codes ``(..., B, n_latents)``, in input scale (``x_hat = codes @ dictionary + bias``)."""
    loss: torch.Tensor
    """Training objective per run, ``(n_models,)`` (``()`` unbatched): recon + aux."""
    recon_loss: torch.Tensor
    """Reconstruction term per run (in the space the model trains in)."""
    aux_loss: torch.Tensor
    """Every other term per run (sparsity penalty, AuxK, revive); zeros when there is none."""


class BaseSAE(nn.Module):
    """Base of every sparse autoencoder: runs, seeds, shapes, config, per-run extraction.

    Subclasses create their parameters in ``__init__`` with :meth:`_randn` (one generator per
    run) and implement :meth:`_forward` (``(M, B, d_in)`` in), :meth:`encode` and
    :attr:`dictionary`; adaptive state lives in buffers with a leading runs dimension.

    Parameters
    ----------
    d_in : int
        Input dimension.
    n_latents : int
        Number of latents (dictionary atoms).
    n_models : int, optional
        Number of independent runs trained together. None (default) builds an unbatched model
        (one run; inputs ``(B, d_in)``); an int, even 1, builds a batched one (inputs
        ``(n_models, B, d_in)``, or ``(B, d_in)`` shared by all runs).
    seed : int or sequence of int, default=0
        Run ``m`` has seed ``seed + m``, or ``seed[m]`` when a sequence is given (its length
        then sets ``n_models``). Its initialisation and its training randomness use seeds
        derived from it (:func:`mplib.repro.derive_seed` with tags ``"sae-init"`` and
        ``"sae-train"``), so a model and a data stream given the same seed draw unrelated
        numbers.
    reduction : {"sum", "mean"}, default="sum"
        Reconstruction loss: squared error summed over features, averaged over samples; or
        averaged over all entries.
    dtype : torch.dtype, default=torch.float32
    device : str or torch.device, default="cpu"
        ``"auto"`` picks CUDA when available.
    """

    per_run: ClassVar[tuple[str, ...]] = ()
    """Hyper-parameters that may be given as one value per run."""
    decoder_name: ClassVar[str] = "W_dec"
    """Parameter whose rows are the atoms (target of decoder-norm constraints)."""

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not abstract:
            REGISTRY[cls.__name__] = cls

    def __init__(
        self,
        d_in: int,
        n_latents: int,
        *,
        n_models: int | None = None,
        seed: int | Sequence[int] = 0,
        reduction: str = "sum",
        dtype: torch.dtype = torch.float32,
        device: Any = "cpu",
    ):
        super().__init__()
        self.d_in = check_int("d_in", d_in)
        self.n_latents = check_int("n_latents", n_latents)
        if isinstance(seed, Sequence) and not isinstance(seed, str):
            seeds = [int(s) if not isinstance(s, bool) else s for s in seed]
            if not seeds:
                raise ValueError("seed must hold at least one seed when given as a sequence")
            if n_models is not None and check_int("n_models", n_models) != len(seeds):
                raise ValueError(f"n_models={n_models} but seed holds {len(seeds)} seeds")
            n_models = len(seeds) if n_models is not None or len(seeds) > 1 else None
        else:
            if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
                raise TypeError(f"seed must be an int or a sequence of int, got {seed!r}")
            count = 1 if n_models is None else check_int("n_models", n_models)
            seeds = [int(seed) + m for m in range(count)]
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise ValueError(f"seeds must be non-negative ints, got {s!r}")
        self.batched = n_models is not None
        self.seeds = seeds
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self._dtype = dtype
        self._device = resolve_device(device)
        # derived seeds: a model and a data stream seeded alike must not draw the same numbers
        self._gens = [torch_generator(derive_seed(s, "sae-init")) for s in seeds]
        self._random = RunRandom(seeds)
        self.hyper: dict[str, Any] = {}

    # ------------------------------------------------------------------ construction helpers
    @property
    def n_models(self) -> int:
        """Number of runs held (1 for an unbatched model)."""
        return len(self.seeds)

    def _randn(self, *shape: int) -> torch.Tensor:
        """Draw ``(M, *shape)`` standard normals, run ``m`` from its own generator (float64)."""
        draws = [torch.randn(*shape, generator=g, dtype=torch.float64) for g in self._gens]
        return torch.stack(draws)

    def _param(self, value: torch.Tensor) -> nn.Parameter:
        return nn.Parameter(value.to(device=self._device, dtype=self._dtype).contiguous())

    def _buffer(self, name: str, value: torch.Tensor | float, dtype: torch.dtype | None = None):
        if not isinstance(value, torch.Tensor):
            value = torch.full((self.n_models,), float(value))
        dt = dtype or (self._dtype if value.is_floating_point() else value.dtype)
        self.register_buffer(name, value.to(device=self._device, dtype=dt).contiguous())

    def _per_run_value(
        self, name: str, value: Any, check: Any, *, allow_none: bool = False
    ) -> Any:
        """Validate a hyper-parameter given once or once per run; return the JSON-able form."""
        if value is None and allow_none:
            return None
        if isinstance(value, Sequence | np.ndarray | torch.Tensor) and not isinstance(value, str):
            if name not in self.per_run:
                raise TypeError(f"{name} must be a single value, got a sequence")
            vals = [v.item() if hasattr(v, "item") else v for v in value]
            if len(vals) != self.n_models:
                raise ValueError(
                    f"{name} must hold one value per run ({self.n_models}), got {len(vals)}"
                )
            return [check(name, v) for v in vals]
        return check(name, value)

    def _per_run_tensor(self, value: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``(M,)`` tensor on the model's device from a single or per-run value."""
        vals = value if isinstance(value, list) else [value] * self.n_models
        return torch.tensor(vals, dtype=dtype or self._dtype, device=self._device)

    # ------------------------------------------------------------------ shapes
    def _prepare(self, x: Any, name: str = "x") -> tuple[torch.Tensor, bool]:
        """Validate ``x`` and bring it to ``(M, B, d_in)``; return it and whether to squeeze."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        ref = self.decoder_weight
        if x.dtype != ref.dtype:
            raise TypeError(f"{name} must have dtype {ref.dtype} (the model's), got {x.dtype}")
        if x.device != ref.device:
            raise ValueError(f"{name} must be on {ref.device} (the model's), got {x.device}")
        if x.shape[-1:] != (self.d_in,):
            raise ValueError(f"{name} must have last dimension d_in={self.d_in}, got {x.shape}")
        if self.batched:
            if x.dim() == 2:
                return x.expand(self.n_models, *x.shape), False
            if x.dim() != 3 or x.shape[0] != self.n_models:
                raise ValueError(
                    f"{name} must have shape (n_models={self.n_models}, B, {self.d_in}) or "
                    f"(B, {self.d_in}), got {tuple(x.shape)}"
                )
            return x, False
        if x.dim() == 1:
            x = x.unsqueeze(0)
        if x.dim() != 2:
            raise ValueError(f"{name} must have shape (B, {self.d_in}), got {tuple(x.shape)}")
        return x.unsqueeze(0), True

    def _finish(self, out: SAEOutput, squeeze: bool) -> SAEOutput:
        if not squeeze:
            return out
        return SAEOutput(*(t.squeeze(0) for t in out))

    def _loss_recon(self, err: torch.Tensor) -> torch.Tensor:
        """Per-run reconstruction loss from an error tensor ``(M, B, d)``."""
        # one reduction over (B, d) per run: a sum along the 20-wide last dim is ~3x slower
        sq = (err * err).sum((-2, -1)) / err.shape[-2]
        return sq / self.d_in if self.reduction == "mean" else sq

    # ------------------------------------------------------------------ public API
    @property
    def decoder_weight(self) -> nn.Parameter:
        """The parameter whose rows are the atoms, ``(M, n_latents, d_in)``."""
        return getattr(self, self.decoder_name)

    @property
    def dictionary(self) -> torch.Tensor:
        """Atoms as rows, ``(n_latents, d_in)`` (``(n_models, n_latents, d_in)`` batched).

        ``x_hat = codes @ dictionary + bias`` in input scale.
        """
        d = self._dictionary()
        return d if self.batched else d.squeeze(0)

    def _dictionary(self) -> torch.Tensor:
        return self.decoder_weight

    def forward(self, x: torch.Tensor) -> SAEOutput:
        """Encode and decode ``x`` with the inference rule; no adaptive state changes.

        (BatchTopK uses its threshold here; the batch-level top-k and every adaptive update
        happen in :meth:`training_step`. Training-only randomness, the MP-SAE's atom dropout,
        applies in training mode.)

        Parameters
        ----------
        x : Tensor of shape (B, d_in), or (n_models, B, d_in) for a batched model

        Returns
        -------
        SAEOutput
        """
        x3, squeeze = self._prepare(x)
        return self._finish(self._forward(x3), squeeze)

    def training_step(self, x: torch.Tensor, step: int, n_steps: int) -> SAEOutput:
        """Forward pass of optimizer step ``step`` (0-based) of ``n_steps``.

        Updates the adaptive state (running norms, sparsity coefficients, thresholds, sort
        order) the way the model's recipe prescribes and returns the objective to minimise.
        """
        x3, squeeze = self._prepare(x)
        out = self._add_revive(x3, self._training_step(x3, int(step), int(n_steps)))
        return self._finish(out, squeeze)

    def _training_step(self, x: torch.Tensor, step: int, n_steps: int) -> SAEOutput:
        return self._forward(x)

    def _add_revive(self, x: torch.Tensor, out: SAEOutput) -> SAEOutput:
        """Add a model's revive term to the training objective (none here; MP adds its own)."""
        return out

    def post_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Run after every optimizer step (the Matryoshka SAE re-sorts its latents here)."""

    def encode(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """Codes of ``x`` (inference: no gradient, no adaptive state changes).

        Parameters
        ----------
        x : Tensor of shape (B, d_in), or (n_models, B, d_in) for a batched model
        k : int, optional
            Override the sparsity at inference (see the model's docstring).

        Returns
        -------
        Tensor of shape (B, n_latents) (``(n_models, B, n_latents)`` batched)
        """
        x3, squeeze = self._prepare(x)
        if k is not None:
            k = check_int("k", k, low=0)
        with torch.no_grad():
            z = self._encode(x3, k)
        return z.squeeze(0) if squeeze else z

    def _encode(self, x: torch.Tensor, k: int | None) -> torch.Tensor:
        raise NotImplementedError

    def stats(self) -> dict[str, torch.Tensor]:
        """Per-run adaptive quantities worth logging (``name -> (M,)`` tensors)."""
        return {}

    # ------------------------------------------------------------------ config and runs
    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (JSON-able)."""
        return {
            "class": type(self).__name__,
            "d_in": self.d_in,
            "n_latents": self.n_latents,
            "n_models": self.n_models if self.batched else None,
            "seed": list(self.seeds) if self.batched else self.seeds[0],
            "reduction": self.reduction,
            "dtype": str(self._dtype).removeprefix("torch."),
            **self.hyper,
        }

    @staticmethod
    def from_config(config: dict[str, Any], device: Any = "cpu") -> BaseSAE:
        """Rebuild a model (freshly initialised) from :meth:`config`."""
        cfg = dict(config)
        name = cfg.pop("class", None)
        if name not in REGISTRY:
            raise ValueError(f"config['class'] must be one of {sorted(REGISTRY)}, got {name!r}")
        cfg["dtype"] = getattr(torch, cfg.get("dtype", "float32"))
        return REGISTRY[name](device=device, **cfg)

    def get_extra_state(self) -> dict:
        """Training RNG state (saved in ``state_dict``)."""
        return {"random": self._random.state()}

    def set_extra_state(self, state: dict) -> None:
        """Restore the training RNG state."""
        self._random.load(state["random"])

    def get_run(self, m: int) -> BaseSAE:
        """Return run ``m`` as a standalone unbatched model (a copy, with its adaptive state).

        Parameters
        ----------
        m : int
            Run index in ``[0, n_models)``.

        Returns
        -------
        BaseSAE
            Same class and hyper-parameters (run ``m``'s value of any per-run one).
        """
        if isinstance(m, bool) or not isinstance(m, int | np.integer):
            raise TypeError(f"m must be an int, got {type(m).__name__}")
        if not 0 <= m < self.n_models:
            raise ValueError(f"m must be in [0, {self.n_models}), got {m}")
        cfg = self.config()
        for key, val in cfg.items():
            if key in self.per_run and isinstance(val, list):
                cfg[key] = val[m]
        cfg.update(n_models=None, seed=self.seeds[m])
        run = BaseSAE.from_config(cfg, device=self._device)
        state = {}
        for key, val in self.state_dict().items():
            if key.endswith("_extra_state"):
                state[key] = {"random": self._random.select(int(m))}
            else:
                state[key] = val[m : m + 1].clone()
        run.load_state_dict(state)
        return run

    def extra_repr(self) -> str:
        """Sizes, runs and hyper-parameters (for ``repr``)."""
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        runs = f", n_models={self.n_models}" if self.batched else ""
        return f"d_in={self.d_in}, n_latents={self.n_latents}{runs}, {hyper}"
