"""Read an activation store: verified shards, document splits, statistics, shuffled batches."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mplib.repro import resolve_device

__all__ = ["ActivationStore", "Standardization", "StoreBatches", "verify_shard"]

MODES = ("zscore", "scale", "none")


def verify_shard(folder: Path, entry: dict) -> bool:
    """Whether a shard file exists with the recorded size and sha256."""
    path = Path(folder) / entry["file"]
    if not path.exists() or path.stat().st_size != entry["nbytes"]:
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]


@dataclass(frozen=True)
class Standardization:
    """``x_std = (x - mean) * scale / std`` and its inverse (our definition of the modes).

    ``"zscore"`` (MP-SAE LM recipe): per-feature population mean/std of the train split, then
    one scalar so that the mean norm is ``sqrt(d)``. ``"scale"`` (dark-matter recipe): mean 0,
    std 1, only the scalar making the mean raw norm ``sqrt(d)``. ``"none"``: identity.
    """

    mode: str
    """One of ``"zscore"``, ``"scale"``, ``"none"``."""
    mean: torch.Tensor
    """(d,) float64 subtracted first."""
    std: torch.Tensor
    """(d,) float64 divisor."""
    scale: float
    """Global factor applied last."""

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Map raw activations to the training scale."""
        mean, mul = self._coefs(x)
        return (x - mean) * mul

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`apply` (up to float rounding): back to the raw scale."""
        mean, mul = self._coefs(x)
        return x / mul + mean

    def _coefs(self, x):
        mean = self.mean.to(device=x.device, dtype=x.dtype)
        mul = (self.scale / self.std).to(device=x.device, dtype=x.dtype)
        return mean, mul


class StoreBatches:
    """Endless seeded shuffled batches of one split (an iterator with ``state_dict``).

    Epoch ``e`` uses ``torch.randperm`` seeded by ``(seed, e)`` over the split's tokens, held
    in memory as fp16 on ``device``; the last incomplete batch of an epoch is dropped.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, seed: int, std: Standardization,
                 dtype: torch.dtype):
        if batch_size > data.shape[0]:
            raise ValueError(f"batch_size must be <= the split's {data.shape[0]} tokens, "
                             f"got {batch_size}")
        self.data, self.batch_size, self.seed, self.std = data, batch_size, seed, std
        self.dtype = dtype
        self.per_epoch = data.shape[0] // batch_size
        self.step, self._epoch, self._perm = 0, -1, None

    def __iter__(self):
        return self

    def __next__(self) -> torch.Tensor:
        epoch, pos = divmod(self.step, self.per_epoch)
        if epoch != self._epoch:
            ss = np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0]
            g = torch.Generator().manual_seed(int(ss))
            self._perm = torch.randperm(self.data.shape[0], generator=g).to(self.data.device)
            self._epoch = epoch
        idx = self._perm[pos * self.batch_size:(pos + 1) * self.batch_size]
        self.step += 1
        return self.std.apply(self.data.index_select(0, idx).to(self.dtype))

    def state_dict(self) -> dict[str, int]:
        """Position in the stream."""
        return {"step": self.step}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Jump to a saved position."""
        self.step = int(state["step"])


class ActivationStore:
    """A finished activation store (see :mod:`mplib.activations.extract` for the layout).

    Parameters
    ----------
    path : path-like
        The store folder (holding ``.done``).
    splits : dict of str to float, default={"train": 0.9, "eval": 0.1}
        Split fractions of *tokens*, assigned by whole document: documents are permuted with
        ``split_seed`` and each goes to the split whose cumulative share its token midpoint
        falls in (our definition).
    split_seed : int, default=0
    verify : bool, default=True
        Check every shard's size and sha256; a bad one raises ``ValueError`` (never served).
    """

    def __init__(self, path, *, splits: dict[str, float] | None = None, split_seed: int = 0,
                 verify: bool = True):
        self.path = Path(path)
        if not (self.path / ".done").exists():
            raise ValueError(f"path: {str(self.path)!r} is not a finished store (no .done)")
        self.manifest = json.loads((self.path / "manifest.json").read_text())
        for entry in self.manifest["shards"]:
            if not (verify_shard(self.path, entry) if verify else
                    (self.path / entry["file"]).exists()):
                raise ValueError(f"path: shard {entry['file']} is missing or corrupted")
        self.index = np.load(self.path / "index.npy", mmap_mode="r")
        """Structured (n_tokens,): ``doc`` (position in :attr:`doc_ids`), ``window``,
        ``position`` (inside the window), ``token_id``."""
        docs = json.loads((self.path / "docs.json").read_text())
        self.doc_ids, self.titles = docs["doc_ids"], docs["titles"]
        self.splits = dict(splits or {"train": 0.9, "eval": 0.1})
        if not self.splits or any(v <= 0 for v in self.splits.values()):
            raise ValueError(f"splits must map names to positive fractions, got {splits!r}")
        self.split_seed = int(split_seed)
        self._cache: dict[Any, Any] = {}

    @property
    def n_tokens(self) -> int:
        """Tokens held."""
        return int(self.manifest["n_tokens"])

    @property
    def d(self) -> int:
        """Activation dimension."""
        return int(self.manifest["d"])

    @property
    def array(self) -> np.ndarray:
        """All activations, fp16 ``(n_tokens, d)``, concatenated in RAM from the shards."""
        if "array" not in self._cache:
            parts = [np.load(self.path / e["file"], mmap_mode="r")
                     for e in self.manifest["shards"]]
            self._cache["array"] = np.concatenate(parts, 0)
        return self._cache["array"]

    def _doc_split(self) -> np.ndarray:
        if "docsplit" not in self._cache:
            doc = np.asarray(self.index["doc"])
            counts = np.bincount(doc, minlength=len(self.doc_ids))
            order = np.random.default_rng(self.split_seed).permutation(len(self.doc_ids))
            cum = np.cumsum(counts[order]) - counts[order] / 2
            bounds = np.cumsum(list(self.splits.values()))
            bounds = bounds / bounds[-1] * counts.sum()
            which = np.empty(len(self.doc_ids), np.int64)
            which[order] = np.minimum(np.searchsorted(bounds, cum, side="right"),
                                      len(bounds) - 1)
            self._cache["docsplit"] = which
        return self._cache["docsplit"]

    def split_ids(self, split: str = "train") -> np.ndarray:
        """Token rows (sorted int64) of ``split``."""
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        s = list(self.splits).index(split)
        return np.flatnonzero(self._doc_split()[np.asarray(self.index["doc"])] == s)

    def tokens(self, split: str = "train") -> np.ndarray:
        """Token ids of ``split``, in store order."""
        return np.asarray(self.index["token_id"])[self.split_ids(split)]

    def _stats(self) -> tuple[np.ndarray, np.ndarray, float, float]:
        if "stats" not in self._cache:
            x = self.array[self.split_ids("train")]
            s1, s2, n = np.zeros(self.d), np.zeros(self.d), 0
            norms = []
            for i in range(0, len(x), 65536):
                c = x[i:i + 65536].astype(np.float64)
                s1 += c.sum(0)
                s2 += (c * c).sum(0)
                n += len(c)
                norms.append(np.linalg.norm(c, axis=1))
            mean = s1 / n
            std = np.sqrt(np.maximum(s2 / n - mean**2, 0.0))
            std = np.where(std > 0, std, 1.0)
            zn = []
            for i in range(0, len(x), 65536):
                c = (x[i:i + 65536].astype(np.float64) - mean) / std
                zn.append(np.linalg.norm(c, axis=1))
            self._cache["stats"] = (mean, std, float(np.concatenate(zn).mean()),
                                    float(np.concatenate(norms).mean()))
        return self._cache["stats"]

    @property
    def mean(self) -> np.ndarray:
        """Per-feature mean over the train split (float64)."""
        return self._stats()[0]

    @property
    def std(self) -> np.ndarray:
        """Per-feature population std over the train split (float64; 0 replaced by 1)."""
        return self._stats()[1]

    def standardization(self, mode: str | bool = "zscore") -> Standardization:
        """Return the map of ``mode`` (True = "zscore", False/None = "none"), train-split stats."""
        mode = {True: "zscore", False: "none", None: "none"}.get(mode, mode)
        if mode not in MODES:
            raise ValueError(f"standardize must be one of {MODES} or a bool, got {mode!r}")
        d = self.d
        if mode == "none":
            return Standardization(mode, torch.zeros(d, dtype=torch.float64),
                                   torch.ones(d, dtype=torch.float64), 1.0)
        mean, std, znorm, rawnorm = self._stats()
        if mode == "scale":
            return Standardization(mode, torch.zeros(d, dtype=torch.float64),
                                   torch.ones(d, dtype=torch.float64), math.sqrt(d) / rawnorm)
        return Standardization(mode, torch.from_numpy(mean), torch.from_numpy(std),
                               math.sqrt(d) / znorm)

    def unstandardize(self, x: torch.Tensor, standardize: str | bool = "zscore"):
        """Map SAE-space activations (or reconstructions) back to the raw scale."""
        return self.standardization(standardize).invert(x)

    def batches(self, split: str = "train", batch_size: int = 4096, seed: int = 0,
                standardize: str | bool = True, device: Any = "cpu",
                dtype: torch.dtype = torch.float32) -> StoreBatches:
        """Endless shuffled, seeded batches ``(batch_size, d)`` of ``split``.

        The split is copied once into memory (fp16, on ``device``) and gathered by a
        per-epoch permutation; see :class:`StoreBatches`.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        dev = resolve_device(device)
        key = ("data", split, str(dev))
        if key not in self._cache:
            self._cache[key] = torch.from_numpy(
                np.ascontiguousarray(self.array[self.split_ids(split)])).to(dev)
        return StoreBatches(self._cache[key], batch_size, seed,
                            self.standardization(standardize), dtype)
