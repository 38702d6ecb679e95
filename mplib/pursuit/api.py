"""Public entry point of the pursuit solvers: :func:`sparse_encode` and :class:`PursuitResult`."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import torch

from mplib.pursuit import _omp_gram_cpu
from mplib.pursuit._common import PREMATURE, KernelOut, decode_slots, score_floor
from mplib.pursuit._dask import is_dask_array
from mplib.pursuit._gp import gradient_pursuit
from mplib.pursuit._mp import dense_codes, mp_loop
from mplib.pursuit._nnomp import nn_omp
from mplib.pursuit._omp_gram_run import compiled, run_compiled, run_gram
from mplib.pursuit._omp_residual import omp_residual
from mplib.pursuit._validation import Prepared, pow2mul, prepare, to_output, to_tensor

__all__ = ["ALGORITHMS", "REGIMES", "PursuitResult", "decode_sparse", "sparse_encode"]

ALGORITHMS = ("mp", "omp", "gp", "acgp")
REGIMES = ("auto", "gram", "residual")

# Gram regime only while G (N × N) stays small and the batch amortizes it (see choose_regime).
_GRAM_MAX_ATOMS = 4096


class PursuitResult(NamedTuple):
    """Result of :func:`sparse_encode` (numpy arrays or tensors, like the input ``X``)."""

    codes: Any
    """Codes (n_samples, n_atoms), ``X ≈ codes @ D``; None with ``return_sparse=True``."""
    residual: Any
    """``X − codes @ D`` (n_samples, n_features), recomputed from the final codes."""
    n_iter: Any
    """Iterations per signal (n_samples,) int64: atoms selected (OMP, GP, ACGP) or steps
    taken (MP, which may pick an atom more than once)."""
    path: Any = None
    """Codes after each iteration (n_steps, n_samples, n_atoms), ``n_steps = max(n_iter)``;
    a signal that stopped early repeats its final codes. Only with ``return_path=True``."""
    indices: Any = None
    """Only with ``return_sparse=True``: atoms per signal (n_samples, n_slots) int64, padded
    with atom 0 and value 0; MP may repeat an atom (decoding sums). See :func:`decode_sparse`."""
    values: Any = None
    """Only with ``return_sparse=True``: coefficients matching ``indices``."""


def _check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _check_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def choose_regime(
    n_signals: int, n_features: int, n_atoms: int, max_budget: int, by_tol: bool = False
) -> str:
    """Pick the OMP regime: ``"gram"`` or ``"residual"``.

    Gram costs ``O(d·N²)`` once plus ``O(d·N + S²·N)`` per signal; residual costs
    ``O(S·d·N + S²·d)`` per signal. Gram wins when ``N`` is small enough for ``G`` to fit,
    the batch amortizes ``G`` (``B·S >= N``) and ``S`` is below ``d`` — or unknown (``by_tol``:
    a tol-only run, whose budget of N atoms says nothing about the atoms it will use).
    """
    if n_atoms > _GRAM_MAX_ATOMS:
        return "residual"
    budget = min(max(max_budget, 1), n_features, n_atoms)
    if n_signals * budget < n_atoms or (budget >= n_features and not by_tol):
        return "residual"
    return "gram"


def _dense_output(out: KernelOut, prep: Prepared, n_atoms: int) -> torch.Tensor:
    """Dense codes in the units of the original problem from slot-form kernel output."""
    if compiled(out.coef):
        # one parallel pass that zeroes, scatters and rescales (two exact power-of-two
        # products, as Prepared.unscale_codes does) instead of three passes over (B, N)
        rows = pow2mul(out.coef.new_ones(out.coef.shape[0]), prep.x_exp).numpy()
        scale = 2.0 ** -prep.d_exp
        return torch.from_numpy(_omp_gram_cpu.dense_codes(
            out.indices.contiguous().numpy(), out.coef.detach().contiguous().numpy(),
            n_atoms, rows, scale,
        ))
    return prep.unscale_codes(dense_codes(out.indices, out.coef, n_atoms))


def _run(prep: Prepared, algorithm: str, positive: bool, normalize: bool, return_path: bool,
         regime: str, max_iter: int | None, chunk: int | None, by_tol: bool) -> KernelOut:
    X, D, budget, tol = prep.X, prep.D, prep.budget, prep.tol
    if algorithm == "mp":
        norms = torch.linalg.vector_norm(D, dim=-1)  # no N × d temporary
        floor = score_floor(X, norms, normalize)
        trace = mp_loop(
            X, D, n_steps=budget, tol=tol, selection="positive" if positive else "abs",
            normalize=normalize, chunk_size=chunk, stop_score=floor,
        )
        residual = X - decode_slots(trace.indices, trace.values, D)
        path = None
        if return_path:
            n_steps = int(trace.n_iter.max())
            inc = X.new_zeros(n_steps, *X.shape[:1], D.shape[0])
            inc.scatter_add_(
                2, trace.indices.T[:n_steps].unsqueeze(-1), trace.values.T[:n_steps].unsqueeze(-1)
            )
            path = inc.cumsum(0)
        return KernelOut(trace.indices, trace.values, trace.n_iter, residual, path, False)
    if algorithm in ("gp", "acgp"):
        cap = None if max_iter is None else torch.full_like(budget, max_iter)
        return gradient_pursuit(
            X, D, budget, conjugate=algorithm == "acgp", positive=positive, tol=tol,
            normalize=normalize, return_path=return_path, max_iter=cap, chunk_size=chunk,
        )
    if positive:
        return nn_omp(X, D, budget, tol=tol, normalize=normalize, return_path=return_path,
                      chunk_size=chunk)
    if regime == "auto":
        regime = choose_regime(X.shape[0], X.shape[1], D.shape[0], int(budget.max()), by_tol)
    if regime == "gram":
        return run_gram(prep, normalize, return_path)
    return omp_residual(X, D, budget, tol=tol, normalize=normalize, return_path=return_path,
                        chunk_size=chunk)


def _premature(out: KernelOut, prep: Prepared, algorithm: str, positive: bool) -> bool:
    """Whether to warn: an OMP signal stopped short of its budget and tol, residual not ~0."""
    if algorithm != "omp":
        return False
    if positive:
        return out.dependent
    X = prep.X
    target = prep.budget.clamp(max=min(X.shape[1], prep.D.shape[0]))
    r2 = (out.residual * out.residual).sum(-1)
    x2 = (X * X).sum(-1)
    eps = torch.finfo(X.dtype).eps
    short = out.n_iter < target
    if prep.tol is not None:
        # slack: the Gram regime tests tol on an energy recurrence, not on the exact residual
        short = short & (r2 > prep.tol + eps**0.5 * x2)
    unmet = r2 > eps * x2
    return bool((short & unmet).any())


def sparse_encode(
    X: Any,
    D: Any,
    *,
    algorithm: str = "omp",
    n_nonzero_coefs: Any = None,
    tol: Any = None,
    positive: bool = False,
    return_path: bool = False,
    normalize: bool = False,
    regime: str = "auto",
    return_sparse: bool = False,
    max_iter: int | None = None,
    chunk_size: int | None = None,
) -> PursuitResult:
    """Approximate each row of X by a few atoms of D, chosen greedily (batched).

    Solves ``min ‖x − z D‖²`` subject to ``‖z‖₀ <= n_nonzero_coefs`` (or until
    ``‖x − z D‖² <= tol``) approximately for every signal, with matching pursuit (``"mp"``),
    orthogonal matching pursuit (``"omp"``), gradient pursuit (``"gp"``) or approximate
    conjugate gradient pursuit (``"acgp"``).

    Parameters
    ----------
    X : ndarray, Tensor or dask array of shape (n_samples, n_features)
        Signals, one per row. Integers promote to float64; float32 stays float32. A
        ``dask.array`` is encoded lazily, chunk of rows by chunk, and the result holds dask
        arrays (``return_path`` and ``return_sparse`` are not available then).
    D : ndarray or Tensor of shape (n_atoms, n_features)
        Dictionary, one atom per row (any norms; zero and duplicate atoms are allowed).
    algorithm : {"omp", "mp", "gp", "acgp"}, default="omp"
        Pursuit algorithm.
    n_nonzero_coefs : int or array of shape (n_samples,), default=None
        Atoms per signal (MP: steps). None means ``max(int(0.1 * n_atoms), 1)``, or, when
        ``tol`` is given, no budget besides ``n_atoms`` (``tol`` decides, scikit-learn's
        meaning). Must lie in ``[1, n_atoms]``; for OMP, GP and ACGP also at most
        ``n_features`` (``ValueError`` otherwise, as scikit-learn's ``orthogonal_mp``: their
        selected atoms stay linearly independent). MP may take more steps than
        ``n_features``, since it revisits atoms. The default is capped at ``n_features``.
    tol : float or array of shape (n_samples,), default=None
        Stop a signal once its squared residual norm is at most ``tol`` (checked before each
        step, so a signal already within ``tol`` gets no atom). Combines with
        ``n_nonzero_coefs``: whichever comes first.
    positive : bool, default=False
        Non-negative codes: selection by the largest positive correlation; OMP refits by an
        exact active-set NNLS; GP/ACGP cut steps at zero and drop atoms that reach it.
    return_path : bool, default=False
        Also return the codes after every iteration.
    normalize : bool, default=False
        Select by ``|⟨r, d_j⟩| / ‖d_j‖`` instead of the raw ``|⟨r, d_j⟩|``. For MP and OMP this
        equals running on unit-norm atoms; codes always refer to the atoms as given.
    regime : {"auto", "gram", "residual"}, default="auto"
        OMP only: Gram-space Batch-OMP (forms ``D Dᵀ``) or the residual regime (never forms it;
        memory ``O(B·S·d)``, for dictionaries of 16 k – 1 M atoms). Both give the same codes.
    return_sparse : bool, default=False
        Return ``indices``/``values`` (n_samples, S) instead of dense ``codes`` (None then):
        the only affordable output when ``n_atoms`` is large.
    max_iter : int, optional
        Iteration cap of non-negative GP/ACGP (default ``2 · n_nonzero_coefs``).
    chunk_size : int, optional
        Atoms per correlation chunk (default from a per-device memory budget); results do not
        depend on it.

    Returns
    -------
    PursuitResult
        ``codes``, ``residual``, ``n_iter`` and, when asked, ``path`` or ``indices``/``values``.

    Raises
    ------
    ValueError
        Bad shapes, non-finite entries, an unknown ``algorithm`` or ``regime``, a budget
        outside ``[1, n_atoms]`` or of the wrong length, a negative ``tol``.
    TypeError
        Non-numeric input or options of the wrong type.

    Warns
    -----
    RuntimeWarning
        OMP only, at most once per call: some signal stopped before its budget and ``tol``
        with a residual that is not negligible (dependent or duplicate atoms, or a dictionary
        that cannot represent it); scikit-learn's text.

    Notes
    -----
    MP: Mallat & Zhang, IEEE TSP 41(12), 1993. OMP: Pati, Rezaiifar & Krishnaprasad, 1993;
    Batch-OMP: Rubinstein, Zibulevsky & Elad, Technion CS report 2008. GP and ACGP:
    Blumensath & Davies, "Gradient Pursuits", IEEE TSP 56(6), 2008. NNLS: Lawson & Hanson,
    1974; Bro & De Jong, J. Chemometrics 11, 1997.

    Our definitions: a signal also stops once its best selection score is at most
    ``sqrt(eps) · ‖x‖ · max ‖d_j‖`` (nothing left to explain; relative, so any scale works);
    OMP, GP and ACGP never select an atom twice, MP may. Each signal is rescaled by a power
    of two before the pursuit (exact), so tiny and huge signals behave alike.

    Examples
    --------
    >>> import numpy as np
    >>> from mplib.pursuit import sparse_encode
    >>> D = np.eye(4)
    >>> res = sparse_encode(np.array([[0.0, 3.0, 0.0, -1.0]]), D, n_nonzero_coefs=1)
    >>> res.codes
    array([[0., 3., 0., 0.]])
    >>> res.n_iter
    array([1])
    """
    if is_dask_array(X):  # lazy, blockwise over row chunks (mplib.pursuit._dask)
        from mplib.pursuit._dask import encode_dask

        return encode_dask(X, D, algorithm=algorithm, n_nonzero_coefs=n_nonzero_coefs, tol=tol,
                           positive=positive, return_path=return_path, normalize=normalize,
                           regime=regime, return_sparse=return_sparse, max_iter=max_iter,
                           chunk_size=chunk_size)
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if not isinstance(regime, str) or regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
    positive = _check_flag(positive, "positive")
    return_path = _check_flag(return_path, "return_path")
    normalize = _check_flag(normalize, "normalize")
    return_sparse = _check_flag(return_sparse, "return_sparse")
    max_iter = _check_int(max_iter, "max_iter")
    chunk_size = _check_int(chunk_size, "chunk_size")
    if return_path and return_sparse:
        raise ValueError("return_path needs dense codes: pass return_sparse=False with it")
    if regime == "gram" and (algorithm != "omp" or positive):
        raise ValueError(
            f"regime='gram' exists for algorithm='omp' with positive=False only, got "
            f"algorithm={algorithm!r}, positive={positive}"
        )
    with _omp_gram_cpu.one_intra_op_thread():  # a few passes over X and D: no thread sync
        prep = prepare(X, D, n_nonzero_coefs=n_nonzero_coefs, tol=tol)
    n_samples, n_atoms = prep.X.shape[0], prep.D.shape[0]
    if (algorithm != "mp" and n_nonzero_coefs is not None and n_samples
            and int(prep.budget.max()) > prep.X.shape[1]):
        raise ValueError(
            f"n_nonzero_coefs must be <= n_features ({prep.X.shape[1]}) for "
            f"algorithm={algorithm!r}: an orthogonal pursuit's atoms stay linearly independent, "
            f"so it cannot select more than n_features; got {int(prep.budget.max())}"
        )
    with torch.no_grad():
        if n_samples == 0:
            empty = prep.X.new_zeros(0, n_atoms)
            out = KernelOut(
                torch.zeros(0, 0, dtype=torch.long), prep.X.new_zeros(0, 0),
                torch.zeros(0, dtype=torch.long), prep.X.clone(),
                prep.X.new_zeros(0, 0, n_atoms) if return_path else None, False,
            )
            codes = empty
        else:
            by_tol = tol is not None and n_nonzero_coefs is None
            if algorithm == "omp" and not positive and not return_path and compiled(prep.X) and (
                regime == "gram" or regime == "auto" and choose_regime(
                    n_samples, prep.X.shape[1], n_atoms, int(prep.budget.max()), by_tol
                ) == "gram"
            ):
                # compiled CPU Gram kernel: results come back finished, in the caller's units
                fast = run_compiled(prep, normalize, return_sparse)
                if fast.premature:
                    warnings.warn(PREMATURE, RuntimeWarning, stacklevel=2)
                return PursuitResult(
                    to_output(fast.codes, prep), to_output(fast.residual, prep),
                    to_output(fast.n_iter, prep, is_float=False), None,
                    to_output(fast.indices, prep, is_float=False),
                    to_output(fast.values, prep),
                )
            out = _run(prep, algorithm, positive, normalize, return_path, regime, max_iter,
                       chunk_size, by_tol)
            codes = None
        if _premature(out, prep, algorithm, positive):
            warnings.warn(PREMATURE, RuntimeWarning, stacklevel=2)
        result_codes = None
        if out.indices is None:  # Gram regime on the torch kernel: dense coefficients
            dense = out.coef
            if return_sparse:
                k = min(int(out.n_iter.max()) if n_samples else 0, n_atoms)
                _, ind = dense.abs().topk(k, dim=-1)
                ind = ind.sort(-1).values
                out = out._replace(indices=ind, coef=dense.gather(-1, ind))
            else:
                result_codes = to_output(prep.unscale_codes(dense), prep)
        elif codes is not None:
            result_codes = to_output(prep.unscale_codes(codes), prep)
        elif not return_sparse:
            result_codes = to_output(_dense_output(out, prep, n_atoms), prep)
        indices = values = None
        if return_sparse:
            indices = to_output(out.indices, prep, is_float=False)
            values = to_output(prep.unscale_codes(out.coef), prep)
        path = None if out.path is None else to_output(prep.unscale_codes(out.path), prep)
        return PursuitResult(
            result_codes,
            to_output(prep.unscale_residual(out.residual), prep),
            to_output(out.n_iter, prep, is_float=False),
            path,
            indices,
            values,
        )


def decode_sparse(indices: Any, values: Any, D: Any) -> Any:
    """Decode sparse codes: ``X_hat[i] = Σ_s values[i, s] · D[indices[i, s]]``.

    Parameters
    ----------
    indices : ndarray or Tensor of shape (n_samples, n_slots), int
        Atom indices (repeats allowed: they add up).
    values : ndarray or Tensor of shape (n_samples, n_slots)
        Coefficients.
    D : ndarray or Tensor of shape (n_atoms, n_features)
        Dictionary, one atom per row.

    Returns
    -------
    ndarray or Tensor of shape (n_samples, n_features)
        Like ``values`` (numpy in → numpy out).

    Examples
    --------
    >>> import numpy as np
    >>> decode_sparse(np.array([[1, 1]]), np.array([[2.0, 0.5]]), np.eye(3))
    array([[0. , 2.5, 0. ]])
    """
    if isinstance(indices, torch.Tensor):
        ind, ind_np = indices, False
    else:
        ind, ind_np = torch.as_tensor(indices), True
    vals, v_np = to_tensor(values, "values")
    Dt, _ = to_tensor(D, "D", device=vals.device)
    if ind.dtype not in (torch.int32, torch.int64, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"indices must be integers, got dtype {ind.dtype}")
    if ind.ndim != 2 or tuple(ind.shape) != tuple(vals.shape):
        raise ValueError(
            f"indices and values must have the same 2-D shape, got {tuple(ind.shape)} and "
            f"{tuple(vals.shape)}"
        )
    if Dt.ndim != 2:
        raise ValueError(f"D must be 2-D (n_atoms, n_features), got shape {tuple(Dt.shape)}")
    ind = ind.to(device=vals.device, dtype=torch.long)
    if ind.numel() and (int(ind.min()) < 0 or int(ind.max()) >= Dt.shape[0]):
        raise ValueError(f"indices must lie in [0, {Dt.shape[0]}), got values outside")
    dtype = torch.promote_types(vals.dtype, Dt.dtype)
    out = decode_slots(ind, vals.to(dtype), Dt.to(dtype))
    return out.cpu().numpy() if (v_np and ind_np) else out
