"""Reproducibility helpers: seeds, devices, repository paths, a hashed cache, provenance.

This is the only module of mplib that knows about folders on disk (``data/``, ``figures/``)
and the only place where ``device="auto"`` is resolved. Notebook parameters live in
:mod:`mplib.notebook`, the command line in :mod:`mplib.cli`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_write",
    "atomic_write_json",
    "cache_dir",
    "cache_key",
    "code_fingerprint",
    "cached",
    "data_dir",
    "derive_seed",
    "figures_dir",
    "git_commit",
    "numpy_generator",
    "output_dir",
    "provenance",
    "repo_root",
    "resolve_device",
    "runs_dir",
    "scratch_dir",
    "show_versions",
    "to_jsonable",
    "torch_generator",
]

# ---------------------------------------------------------------------------------------------
# seeds


def numpy_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a numpy ``Generator`` from an int seed (or pass a generator through).

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
        ``None`` is refused: every random thing in mplib takes an explicit seed.

    Returns
    -------
    numpy.random.Generator
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int or a numpy Generator, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return np.random.default_rng(int(seed))


def torch_generator(seed: int | Any, device: Any = "cpu") -> Any:
    """Return a seeded ``torch.Generator`` on ``device`` (or pass a generator through).

    Parameters
    ----------
    seed : int or torch.Generator
        Non-negative integer seed.
    device : str or torch.device, default="cpu"

    Returns
    -------
    torch.Generator
    """
    import torch

    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int or a torch.Generator, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def derive_seed(seed: int, *tags: str | int) -> int:
    """Derive an independent seed from ``seed`` and tags (e.g. ``derive_seed(3, "model")``).

    Two generators seeded with the same integer produce the same numbers; a run that seeds
    its data and its model from one ``seed`` must derive distinct seeds for them.

    Examples
    --------
    >>> derive_seed(0, "model") != derive_seed(0, "data")
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    words = [int(seed)] + [
        t if isinstance(t, int) else int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "big")
        for t in tags
    ]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> 1)


def resolve_device(device: Any = "auto") -> Any:
    """Resolve ``"auto"`` to CUDA when available, else CPU; pass other values through.

    Parameters
    ----------
    device : str or torch.device, default="auto"

    Returns
    -------
    torch.device
    """
    import torch

    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:n]', got {device!r}") from err


# ---------------------------------------------------------------------------------------------
# paths


def repo_root() -> Path:
    """Return the repository root: ``$MPLIB_ROOT`` if set, else the folder holding ``mplib/``."""
    env = os.environ.get("MPLIB_ROOT")
    return Path(env).resolve() if env else Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Return the cache folder ``data/`` (``$MPLIB_DATA`` overrides it)."""
    env = os.environ.get("MPLIB_DATA")
    return Path(env).resolve() if env else repo_root() / "data"


def figures_dir(preset: str) -> Path:
    """Return ``figures/<preset>/`` (``$MPLIB_FIGURES`` overrides the whole folder)."""
    if not isinstance(preset, str) or not preset or "/" in preset:
        raise ValueError(f"preset must be a plain name such as 'quick', got {preset!r}")
    env = os.environ.get("MPLIB_FIGURES")
    return Path(env).resolve() if env else repo_root() / "figures" / preset


def scratch_dir(preset: str) -> Path:
    """Return ``figures/scratch/<preset>/``, where notebooks run outside ``make`` write."""
    if not isinstance(preset, str) or not preset or "/" in preset:
        raise ValueError(f"preset must be a plain name such as 'quick', got {preset!r}")
    return repo_root() / "figures" / "scratch" / preset


def output_dir(preset: str) -> Path:
    """Return the folder a notebook writes its figures and JSON into.

    Under ``make`` (``$MPLIB_FIGURES`` set) that folder is the build's staging folder, moved
    into ``figures/<preset>/`` on success; otherwise (Jupyter, plain ``python``) it is
    :func:`scratch_dir`, so that an interactive run never overwrites a built output.
    """
    env = os.environ.get("MPLIB_FIGURES")
    return Path(env).resolve() if env else scratch_dir(preset)


def runs_dir() -> Path:
    """Return ``data/runs/``, where trained models are kept (one checkpoint folder each)."""
    return data_dir() / "runs"


def cache_dir(stem: str) -> Path:
    """Return ``data/cache/<stem>/`` for a notebook stem (created on first use)."""
    path = data_dir() / "cache" / stem
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------------
# atomic files and the hashed cache


def atomic_write(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write a file atomically: ``write(f)`` into a temporary file, then ``os.replace``.

    An interrupted run never leaves a half-written file at ``path``.

    Parameters
    ----------
    path : path-like
        Destination.
    write : callable
        Called with a binary file object opened in the destination's folder.

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/torch scalars and arrays, dataclasses and paths into JSON values.

    Non-finite floats become ``None`` (JSON has no NaN).
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if type(obj).__module__.startswith("torch") and hasattr(obj, "tolist"):
        return to_jsonable(obj.detach().cpu().tolist())
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` (through :func:`to_jsonable`) as indented JSON, atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))


def cache_key(*parts: Any) -> str:
    """Hash JSON-able inputs (configs, data identity) and the mplib version into a short key."""
    from mplib import __version__

    blob = json.dumps([__version__, to_jsonable(list(parts))], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def code_fingerprint(*packages: str) -> str:
    """Hash the source of mplib subpackages or modules (e.g. ``"sae"``, ``"pursuit/_mp.py"``).

    Part of a cache key for artefacts whose value depends on code, so that a change to that
    code invalidates them instead of silently serving stale results.
    """
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for pkg in packages:
        path = root / pkg
        if not path.exists():
            raise ValueError(f"packages: no mplib/{pkg}")
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cached(stem: str, name: str, key_parts: Any, compute: Callable[[], Any]) -> Any:
    """Return a cached artefact or compute it and cache it under ``data/cache/<stem>/``.

    The file is ``<name>-<key>.pt`` where ``key`` hashes ``key_parts`` and the mplib version;
    it is written with :func:`torch.save` through :func:`atomic_write`.

    Parameters
    ----------
    stem : str
        Notebook stem owning the cache folder.
    name : str
        Human-readable artefact name.
    key_parts : JSON-able
        Everything the artefact depends on (configs, seeds, data identity).
    compute : callable
        Produces the artefact (tensors, arrays, dicts of them) when it is not cached.

    Returns
    -------
    The artefact.
    """
    import torch

    if os.environ.get("MPLIB_NO_CACHE"):
        return compute()
    path = cache_dir(stem) / f"{name}-{cache_key(key_parts)}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    value = compute()
    atomic_write(path, lambda f: torch.save(value, f))
    return value


# ---------------------------------------------------------------------------------------------
# provenance


def git_commit() -> str | None:
    """Return the current git commit of the repository (with ``-dirty``), or ``None``."""
    try:
        root = repo_root()
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=10,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ["mplib", "torch", "numpy", "scipy", "scikit-learn", "matplotlib", "papermill"]:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def provenance(params: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Describe how a result was made: parameters, versions, git commit, machine.

    Parameters
    ----------
    params : mapping, optional
        The notebook's parameters (as run).
    **extra
        Further fields (for instance ``substitute=False``).

    Returns
    -------
    dict
    """
    import torch

    return {
        "params": dict(params or {}),
        "versions": _versions(),
        "git_commit": git_commit(),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        **extra,
    }


def show_versions(file: Any = None) -> dict[str, Any]:
    """Print the versions of Python and the main packages, the CPU/GPU and thread counts.

    Returns
    -------
    dict
        What was printed.
    """
    import torch

    info: dict[str, Any] = dict(_versions())
    info["platform"] = platform.platform()
    info["cpu_count"] = os.cpu_count()
    info["torch_threads"] = torch.get_num_threads()
    info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    info["git_commit"] = git_commit()
    width = max(len(k) for k in info)
    for k, v in info.items():
        print(f"{k:>{width}}: {v}", file=file or sys.stdout)
    return info
