"""Input checks and numpy ↔ torch conversion shared by every pursuit entry point.

One place decides what a valid call looks like, so that :func:`mplib.pursuit.sparse_encode`,
the numpy references and the scikit-learn drop-in reject the same inputs with the same words.

Conventions (house style): ``X`` (n_samples, n_features), ``D`` (n_atoms, n_features), codes
(n_samples, n_atoms). numpy in → numpy out; torch in → torch out on the same device and float
dtype; integers and booleans promote to float64; float16/bfloat16 are computed in float32 and
cast back. Inputs are never modified (read-only numpy arrays work).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "Prepared",
    "check_budget",
    "check_tol",
    "default_n_nonzero_coefs",
    "pow2mul",
    "prepare",
    "to_output",
    "to_tensor",
]

# Dictionaries whose largest entry lies outside [2**-_D_EXP, 2**_D_EXP] are rescaled by a power
# of two before the pursuit: squared norms of such atoms would under- or overflow in float32.
_D_EXP = 20


def default_n_nonzero_coefs(n_atoms: int) -> int:
    """Return the default budget ``max(int(0.1 * n_atoms), 1)`` (scikit-learn's, never 0)."""
    return max(int(0.1 * n_atoms), 1)


def to_tensor(a: Any, name: str, device: torch.device | None = None) -> tuple[torch.Tensor, bool]:
    """Convert an array-like to a floating tensor without copying when possible.

    Parameters
    ----------
    a : array-like or Tensor
        Input; integers and booleans promote to float64.
    name : str
        Parameter name used in error messages.
    device : torch.device, optional
        Where numpy input goes (torch input stays where it is).

    Returns
    -------
    tensor : Tensor
        Floating tensor (float16/bfloat16 kept: the caller picks the compute dtype).
    from_numpy : bool
        Whether the input was not a torch tensor (the output then goes back to numpy).
    """
    if isinstance(a, torch.Tensor):
        t, from_numpy = a, False
    else:
        if isinstance(a, str | bytes) or a is None:
            raise TypeError(f"{name} must be an array or a tensor, got {type(a).__name__}")
        arr = np.asarray(a)
        if arr.dtype == object:
            raise TypeError(f"{name} must hold numbers, got an array of dtype object")
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
        elif arr.dtype.kind != "f":
            raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
        with warnings.catch_warnings():
            # Read-only arrays are fine: the pursuit never writes to its inputs.
            warnings.simplefilter("ignore", UserWarning)
            if not arr.dtype.isnative:
                arr = arr.astype(arr.dtype.newbyteorder("="))
            t = torch.from_numpy(arr)
        from_numpy = True
        if device is not None:
            t = t.to(device)
    if t.is_complex():
        raise TypeError(f"{name} must be real, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    return t, from_numpy


def _exponent_scale(maxabs: torch.Tensor) -> torch.Tensor:
    """Integer exponents e with maxabs / 2**e in [0.5, 1) (0 for zero rows).

    Clamped so that ``2**±e`` stays finite in the dtype (subnormal rows stay a little small).
    """
    _, e = torch.frexp(maxabs)
    emax = 1022 if maxabs.dtype == torch.float64 else 126
    return e.clamp(-emax, emax)


def pow2mul(t: torch.Tensor, e: torch.Tensor | int) -> torch.Tensor:
    """Return ``t * 2**e`` exactly (a power-of-two scaling; ``e`` broadcasts against ``t``)."""
    e = torch.as_tensor(e, device=t.device)
    return t * torch.pow(torch.tensor(2.0, dtype=t.dtype, device=t.device), e.to(t.dtype))


def check_budget(
    n_nonzero_coefs: Any, n_samples: int, n_atoms: int, device: torch.device
) -> torch.Tensor:
    """Validate ``n_nonzero_coefs`` (None, an int or one int per sample) into an int64 tensor.

    Parameters
    ----------
    n_nonzero_coefs : None, int or array-like of shape (n_samples,)
        Requested budget; None gives ``max(int(0.1 * n_atoms), 1)``.
    n_samples, n_atoms : int
        Problem sizes.
    device : torch.device
        Device of the returned tensor.

    Returns
    -------
    Tensor of shape (n_samples,), int64
    """
    if n_nonzero_coefs is None:
        k = default_n_nonzero_coefs(n_atoms)
        return torch.full((n_samples,), k, dtype=torch.long, device=device)
    if isinstance(n_nonzero_coefs, bool):
        raise TypeError(f"n_nonzero_coefs must be an int or ints, got {n_nonzero_coefs!r}")
    if isinstance(n_nonzero_coefs, numbers.Integral):
        values = torch.tensor([int(n_nonzero_coefs)], dtype=torch.long)
        scalar = True
    else:
        if isinstance(n_nonzero_coefs, torch.Tensor):
            arr = n_nonzero_coefs.detach().cpu().numpy()
        elif isinstance(n_nonzero_coefs, numbers.Number):
            raise TypeError(
                f"n_nonzero_coefs must be an int or one int per sample, got {n_nonzero_coefs!r}"
            )
        else:
            arr = np.asarray(n_nonzero_coefs)
        if arr.dtype.kind not in "iu":
            raise TypeError(
                f"n_nonzero_coefs must be an int or integers, got dtype {arr.dtype}"
            )
        if arr.ndim == 0:  # a 0-d array or tensor is a scalar
            return check_budget(int(arr), n_samples, n_atoms, device)
        if arr.ndim != 1 or arr.shape[0] != n_samples:
            raise ValueError(
                f"n_nonzero_coefs must be an int or have shape ({n_samples},) (one per sample), "
                f"got shape {arr.shape}"
            )
        values = torch.from_numpy(arr.astype(np.int64))
        scalar = False
    if values.numel() and int(values.min()) < 1:
        raise ValueError(f"n_nonzero_coefs must be >= 1, got {int(values.min())}")
    if values.numel() and int(values.max()) > n_atoms:
        raise ValueError(
            f"n_nonzero_coefs must be <= n_atoms ({n_atoms}), got {int(values.max())}"
        )
    if scalar:
        return torch.full((n_samples,), int(values[0]), dtype=torch.long, device=device)
    return values.to(device)


def check_tol(tol: Any, n_samples: int, device: torch.device) -> torch.Tensor | None:
    """Validate ``tol`` (None, a float >= 0 or one per sample) into a float64 tensor or None."""
    if tol is None:
        return None
    if isinstance(tol, bool):
        raise TypeError(f"tol must be a non-negative float or floats, got {tol!r}")
    if isinstance(tol, numbers.Real):
        t = torch.full((n_samples,), float(tol), dtype=torch.float64)
        shape_ok = True
    else:
        if isinstance(tol, torch.Tensor):
            arr = tol.detach().cpu().numpy()
        else:
            arr = np.asarray(tol)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"tol must be a non-negative float or floats, got dtype {arr.dtype}")
        if arr.ndim == 0:  # a 0-d array or tensor is a scalar
            return check_tol(float(arr), n_samples, device)
        shape_ok = arr.ndim == 1 and arr.shape[0] == n_samples
        if not shape_ok:
            raise ValueError(
                f"tol must be a float or have shape ({n_samples},) (one per sample), "
                f"got shape {arr.shape}"
            )
        t = torch.from_numpy(arr.astype(np.float64))
    if t.numel() and bool(torch.isnan(t).any()):
        raise ValueError("tol must be a non-negative float, got nan")
    if t.numel() and float(t.min()) < 0:
        raise ValueError(f"tol must be >= 0 (a squared residual norm), got {float(t.min())}")
    return t.to(device)


@dataclass
class Prepared:
    """Validated, rescaled problem handed to the batched kernels (internal)."""

    X: torch.Tensor
    """Signals (B, d) in the compute dtype, each row divided by ``2**x_exp``."""
    D: torch.Tensor
    """Dictionary (N, d) in the compute dtype, divided by ``2**d_exp`` (usually not copied)."""
    x_exp: torch.Tensor
    """Per-signal power-of-two exponent (B,) int."""
    d_exp: int
    """Dictionary power-of-two exponent."""
    budget: torch.Tensor
    """Budget per signal (B,) int64."""
    tol: torch.Tensor | None
    """Squared-residual tolerance per signal (B,) in the compute dtype, rescaled, or None."""
    out_dtype: torch.dtype
    """Dtype of the results."""
    to_numpy: bool
    """Whether results go back to numpy."""

    def unscale_codes(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (..., B, K) of the rescaled problem in the units of the original one."""
        return pow2mul(pow2mul(z, self.x_exp.unsqueeze(-1)), -self.d_exp)

    def rescale_codes(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, K) in original units into the rescaled problem's (inverse of the above)."""
        return pow2mul(pow2mul(z, -self.x_exp.unsqueeze(-1)), self.d_exp)

    def unscale_residual(self, r: torch.Tensor) -> torch.Tensor:
        """Residuals (B, d) of the rescaled problem in the units of the original one."""
        return pow2mul(r, self.x_exp.unsqueeze(-1))


def prepare(
    X: Any,
    D: Any,
    *,
    n_nonzero_coefs: Any = None,
    tol: Any = None,
) -> Prepared:
    """Validate and convert the inputs of a pursuit call.

    Each signal is divided by a power of two (exact) so that its largest entry lies in
    [0.5, 1): every threshold of the kernels is then relative to the signal's scale and no
    square under- or overflows, whatever the scale of the data. The dictionary is rescaled the
    same way only when its entries are extreme.

    Parameters
    ----------
    X : array-like or Tensor of shape (n_samples, n_features)
        Signals, one per row.
    D : array-like or Tensor of shape (n_atoms, n_features)
        Dictionary, one atom per row.
    n_nonzero_coefs : None, int or array-like of shape (n_samples,)
        Budget per signal (see :func:`check_budget`); with ``tol`` given and no budget, the
        budget is ``n_atoms`` (``tol`` decides).
    tol : None, float or array-like of shape (n_samples,)
        Squared residual norm at which a signal stops.

    Returns
    -------
    Prepared
    """
    Xt, x_np = to_tensor(X, "X")
    Dt, d_np = to_tensor(D, "D")
    if x_np and not d_np:
        Xt = Xt.to(Dt.device)
    elif d_np and not x_np:
        Dt = Dt.to(Xt.device)
    elif Xt.device != Dt.device:
        raise ValueError(f"X and D must be on the same device, got {Xt.device} and {Dt.device}")
    if Xt.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features), got shape {tuple(Xt.shape)}; "
            "use X[None, :] for a single signal"
        )
    if Dt.ndim != 2:
        raise ValueError(f"D must be 2-D (n_atoms, n_features), got shape {tuple(Dt.shape)}")
    n_samples, n_features = Xt.shape
    n_atoms = Dt.shape[0]
    if Dt.shape[1] != n_features:
        raise ValueError(
            f"D must have n_features = {n_features} columns like X, got shape {tuple(Dt.shape)}"
        )
    if n_atoms == 0 or n_features == 0:
        raise ValueError(f"D must have at least one atom and one feature, got {tuple(Dt.shape)}")
    # aminmax: one pass, no temporary as large as the input (D may hold 10⁹ entries); NaN and
    # inf propagate to the extremes.
    x_lo, x_hi = torch.aminmax(Xt.detach()) if Xt.numel() else (Xt.new_zeros(()),) * 2
    if not bool(torch.isfinite(x_lo) & torch.isfinite(x_hi)):
        raise ValueError("X must be finite, got NaN or inf entries")
    d_lo, d_hi = torch.aminmax(Dt.detach())
    if not bool(torch.isfinite(d_lo) & torch.isfinite(d_hi)):
        raise ValueError("D must be finite, got NaN or inf entries")

    out_dtype = torch.promote_types(Xt.dtype, Dt.dtype)
    compute = out_dtype if out_dtype in (torch.float32, torch.float64) else torch.float32
    dev = Xt.device

    budget = check_budget(
        n_nonzero_coefs if (n_nonzero_coefs is not None or tol is None) else n_atoms,
        n_samples,
        n_atoms,
        dev,
    )
    tol_t = check_tol(tol, n_samples, dev)

    Xc = Xt.detach().to(compute)
    if n_samples:
        x_exp = _exponent_scale(Xc.abs().amax(-1))
    else:
        x_exp = torch.zeros(0, dtype=torch.int32, device=dev)
    Xc = pow2mul(Xc, -x_exp.unsqueeze(-1))  # a new tensor: X is never touched

    Dc = Dt.detach().to(compute)
    dmax = max(-float(d_lo), float(d_hi))
    d_exp = 0
    if dmax > 0 and not (2.0**-_D_EXP <= dmax <= 2.0**_D_EXP):
        d_exp = int(_exponent_scale(torch.tensor(dmax, dtype=compute)))
        Dc = pow2mul(Dc, -d_exp)

    if tol_t is not None:
        # two steps: 2**(-2e) alone could overflow where 2**-e does not
        tol_t = pow2mul(pow2mul(tol_t, -x_exp), -x_exp).to(compute)
    return Prepared(Xc, Dc, x_exp, d_exp, budget, tol_t, out_dtype, x_np)


def to_output(t: torch.Tensor | None, prep: Prepared, *, is_float: bool = True) -> Any:
    """Cast a result to the output dtype and to numpy when the inputs were numpy."""
    if t is None:
        return None
    if is_float:
        t = t.to(prep.out_dtype)
    if prep.to_numpy:
        return t.detach().cpu().numpy()
    return t
