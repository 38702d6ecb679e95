"""Blockwise sparse coding of a ``dask.array``: lazy codes, the dictionary broadcast once.

:func:`~mplib.pursuit.sparse_encode` hands a dask array of signals here. Every row chunk of
``X`` is encoded by the in-memory :func:`~mplib.pursuit.sparse_encode` on whichever worker
holds it, with the same options, so the codes equal the in-memory call's chunk by chunk
(each signal's pursuit is independent of the others). The dictionary enters the graph as one
single-chunk array: one key that every block task depends on, shipped to a worker once, not
embedded in each task.

Built on ``dask.array.blockwise`` rather than ``map_blocks`` because the output's column axis
(atoms) comes from the dictionary, not from ``X``. One task per row chunk computes codes and
iteration counts together (stacked column-wise, split lazily afterwards), so asking for both
never runs a pursuit twice; the residual is recomputed lazily from the codes, as the
in-memory path does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["encode_dask", "is_dask_array"]

_UNSUPPORTED = ("return_path", "return_sparse")


def is_dask_array(x: Any) -> bool:
    """Whether ``x`` is a ``dask.array.Array`` (checked without importing dask)."""
    return type(x).__module__.startswith("dask") and hasattr(x, "chunks")


def _encode_block(x: np.ndarray, d: np.ndarray, *per_sample: np.ndarray, names=(), options=None):
    from mplib.pursuit.api import sparse_encode

    opts = dict(options or {})
    opts.update(zip(names, per_sample, strict=True))
    res = sparse_encode(x, d, **opts)
    return np.concatenate([res.codes, res.n_iter[:, None].astype(res.codes.dtype)], axis=1)


def encode_dask(X: Any, D: Any, **options: Any):
    """Encode a dask array of signals blockwise; see :func:`~mplib.pursuit.sparse_encode`.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Signals, chunked by rows (columns are merged into one chunk).
    D : ndarray or dask.array.Array of shape (n_atoms, n_features)
        Dictionary, broadcast to every block once.
    **options
        Keyword options of :func:`~mplib.pursuit.sparse_encode`. ``n_nonzero_coefs`` and
        ``tol`` may be per-sample arrays (numpy or dask), chunked like ``X``'s rows.
        ``return_path`` and ``return_sparse`` are not supported for dask input.

    Returns
    -------
    PursuitResult
        ``codes`` (n_samples, n_atoms), ``residual`` and ``n_iter`` as lazy dask arrays.
    """
    import dask.array as da

    from mplib.pursuit.api import PursuitResult

    for name in _UNSUPPORTED:
        if options.get(name):
            raise ValueError(f"{name}=True is not supported for a dask array X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if is_dask_array(D):
        D = D.compute()
    D = np.asarray(D)
    if D.ndim != 2 or D.shape[1] != X.shape[1]:
        raise ValueError(
            f"D must have shape (n_atoms, {X.shape[1]}) to match X, got {D.shape}"
        )
    dtype = np.result_type(X.dtype, np.float32)
    if not np.issubdtype(X.dtype, np.floating):
        dtype = np.float64
    X = X.rechunk({1: -1}).astype(dtype)
    Dd = da.from_array(D.astype(dtype, copy=False), chunks=D.shape, name="mplib-dictionary")

    names, arrays = [], []
    for name in ("n_nonzero_coefs", "tol"):
        value = options.get(name)
        if value is not None and np.ndim(value) == 1:
            options.pop(name)
            if len(value) != X.shape[0]:
                raise ValueError(
                    f"{name} must have one entry per sample ({X.shape[0]}), got {len(value)}"
                )
            arr = value if is_dask_array(value) else da.from_array(np.asarray(value))
            names.append(name)
            arrays.extend([arr.rechunk((X.chunks[0],)), "i"])

    n_atoms = D.shape[0]
    out = da.blockwise(
        _encode_block, "ij", X, "ik", Dd, "jk", *arrays,
        names=tuple(names), options=options,
        concatenate=True, dtype=dtype, adjust_chunks={"j": n_atoms + 1},
    )
    codes = out[:, :n_atoms]
    n_iter = out[:, n_atoms].astype(np.int64)
    residual = X - da.matmul(codes, Dd)
    return PursuitResult(codes=codes, residual=residual, n_iter=n_iter)
