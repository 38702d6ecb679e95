"""Stream text windows through a causal LM, stop at a site, write fp16 shards plus an index.

Layout of a store folder ``data/cache/activations/<key>/``::

    index.npy        structured (n_tokens,): doc, window, position, token_id (int32 each)
    docs.json        the documents' ids and titles, in store order
    shard-00000.npy  fp16 (n_i, d) activations of consecutive windows
    manifest.json    finished shards with their size and sha256, rewritten after each shard
    .done            written last

Every file is written to a temporary name and ``os.replace``-d into place, so a killed run
leaves only finished, checksummed shards; the next call reuses them and computes the rest.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mplib.models.lm import forward_to, parse_site
from mplib.repro import atomic_write, atomic_write_json, cache_dir, cache_key

__all__ = ["STORE_FORMAT", "extract_activations"]

STORE_FORMAT = 1
"""Version of the store layout; part of every key."""
INDEX_DTYPE = np.dtype([("doc", "<i4"), ("window", "<i4"), ("position", "<i4"),
                        ("token_id", "<i4")])


def _plan(lm, documents, window: int, max_tokens: int | None):
    """Tokenise and cut into windows: list of (doc, window, token ids)."""
    texts = [d.text for d in documents]
    ids = lm.tokenizer(texts, add_special_tokens=False)["input_ids"]
    windows, total = [], 0
    for di, toks in enumerate(ids):
        for w, start in enumerate(range(0, len(toks), window)):
            chunk = list(toks[start:start + window])
            if max_tokens is not None:
                chunk = chunk[: max_tokens - total]
            if not chunk:
                break
            windows.append((di, w, chunk))
            total += len(chunk)
        if max_tokens is not None and total >= max_tokens:
            break
    return windows


def _sha(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def extract_activations(
    lm: Any,
    documents: Sequence[Any],
    *,
    site: str = "resid.15",
    window: int = 256,
    batch_size: int = 16,
    max_tokens: int | None = None,
    shard_tokens: int = 65536,
    progress: bool = True,
    root: str | Path | None = None,
):
    """Compute (or reuse) the activations of ``lm`` at ``site`` on ``documents``.

    Each document is tokenised without special tokens (**no BOS prepended**) and cut into
    consecutive, non-overlapping windows of ``window`` tokens; the last, shorter window of a
    document is kept (padded inside its batch and masked; padded positions are never stored).
    Windows run through the model in batches under ``torch.no_grad()``; a forward hook on the
    site reads its output and stops the pass, so later blocks never run. Shards group
    ``max(1, shard_tokens // window)`` consecutive windows.

    Under ``torch.distributed`` (initialised, e.g. by ``torchrun``), every rank calls this with
    the same arguments: shard ``i`` is computed by rank ``i % world_size``, each rank records
    its shards in its own ``manifest-rank<r>.json``, and after a barrier rank 0 writes the one
    manifest and ``.done``. The store (key, shards, manifest) is byte for byte the one a single
    process writes, and a killed run of any world size resumes from the finished shards.

    Parameters
    ----------
    lm : LM wrapper
        ``.model`` (HF causal LM with ``.model.layers``), ``.tokenizer``, ``.n_blocks``,
        ``.identity`` (a string naming model and weights, for the key).
    documents : sequence of Document
        Objects with ``.doc_id``, ``.title``, ``.text``.
    site : str, default="resid.15"
        See :func:`mplib.models.parse_site`.
    window : int, default=256
        Tokens per window (>= 2).
    batch_size : int, default=16
        Windows per forward pass (part of the key: it changes results at rounding level).
    max_tokens : int, optional
        Stop after this many tokens (documents in order).
    shard_tokens : int, default=65536
    progress : bool, default=True
        tqdm bar over tokens.
    root : path, optional
        Parent folder of the store; default ``data/cache/activations/``.

    Returns
    -------
    ActivationStore
    """
    from mplib.activations.store import ActivationStore, verify_shard

    parse_site(lm, site)  # site names and block ranges: see mplib.models.lm
    for name, v, low in (("window", window, 2), ("batch_size", batch_size, 1),
                         ("shard_tokens", shard_tokens, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise ValueError(f"max_tokens must be a positive int or None, got {max_tokens!r}")
    documents = list(documents)
    if not documents or not any(d.text.strip() for d in documents):
        raise ValueError("documents must hold at least one non-empty document")
    text_hash = hashlib.sha256()
    for d in documents:
        text_hash.update(str(d.doc_id).encode() + b"\0" + d.text.encode() + b"\0")
    params = dict(format=STORE_FORMAT, model=str(lm.identity), site=site, window=window,
                  batch_size=batch_size, max_tokens=max_tokens, shard_tokens=shard_tokens,
                  text=text_hash.hexdigest())
    key = cache_key("activations", params)
    folder = Path(root) if root is not None else cache_dir("activations")
    folder = folder / key
    if (folder / ".done").exists():
        try:
            return ActivationStore(folder)
        except ValueError:
            (folder / ".done").unlink(missing_ok=True)  # a corrupted shard: recompute what is bad

    windows = _plan(lm, documents, window, max_tokens)
    if not windows:
        raise ValueError("documents: tokenisation produced no tokens")
    index = np.zeros(sum(len(w[2]) for w in windows), INDEX_DTYPE)
    pos = 0
    for di, w, chunk in windows:
        n = len(chunk)
        index[pos:pos + n] = [(di, w, p, t) for p, t in enumerate(chunk)]
        pos += n
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "index.npy", lambda f: np.save(f, index))
    atomic_write_json(folder / "docs.json", {"doc_ids": [str(d.doc_id) for d in documents],
                                             "titles": [str(d.title) for d in documents]})
    per_shard = max(1, shard_tokens // window)
    groups = [windows[i:i + per_shard] for i in range(0, len(windows), per_shard)]
    rank, world = _rank_world()
    man_path = folder / "manifest.json"
    own_path = man_path if world == 1 else folder / f"manifest-rank{rank}.json"
    done = _finished_entries(folder, params)
    def fn(ids, mask):  # the site's output; later blocks never run
        return forward_to(lm, ids, mask, block=0, site=site)

    pad = getattr(lm.tokenizer, "pad_token_id", None)
    pad = pad if pad is not None else (getattr(lm.tokenizer, "eos_token_id", None) or 0)
    device = next(lm.model.parameters()).device
    shards, start, d_model = [], 0, None
    bar = tqdm(total=len(index), disable=not progress or rank != 0,
               desc=f"activations {site}", unit="tok")
    for i, group in enumerate(groups):
        n_tok = sum(len(w[2]) for w in group)
        name = f"shard-{i:05d}.npy"
        if i % world != rank:  # another rank's shard
            start += n_tok
            bar.update(n_tok)
            continue
        entry = done.get(name)
        if entry is not None and entry["start"] == start and verify_shard(folder, entry):
            shards.append(entry)
            d_model = entry["d"]
        else:
            arr = _run_group(fn, group, batch_size, pad, device)
            d_model = arr.shape[1]
            buf = io.BytesIO()
            np.save(buf, arr)
            blob = buf.getvalue()
            atomic_write(folder / name, lambda f, blob=blob: f.write(blob))
            shards.append(dict(file=name, start=start, stop=start + n_tok, d=d_model,
                               nbytes=len(blob), sha256=_sha(blob), params=params))
            atomic_write_json(own_path, {"params": params, "shards": shards})
        start += n_tok
        bar.update(n_tok)
    bar.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # every rank's shards are written
        if rank == 0:
            found = _finished_entries(folder, params)
            shards = [found[f"shard-{i:05d}.npy"] for i in range(len(groups))]
            d_model = shards[0]["d"]
    if rank == 0:
        atomic_write_json(man_path, {"params": params, "shards": shards,
                                     "n_tokens": len(index), "d": d_model, "key": key})
        for extra in folder.glob("manifest-rank*.json"):
            extra.unlink()
        atomic_write(folder / ".done", lambda f: f.write(b"ok\n"))
    if world > 1:
        dist.barrier()  # .done is written before any rank reads the store
    return ActivationStore(folder)


def _rank_world() -> tuple[int, int]:
    """Return this rank and the world size under ``torch.distributed`` (0, 1 without it)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _finished_entries(folder: Path, params: dict) -> dict[str, dict]:
    """Return the shard entries recorded by earlier (maybe killed) runs of any world size."""
    done: dict[str, dict] = {}
    paths = [folder / "manifest.json", *sorted(folder.glob("manifest-rank*.json"))]
    for path in paths:  # rank manifests are newer than a finished one: they win
        if not path.exists():
            continue
        try:
            entries = json.loads(path.read_text()).get("shards", [])
        except (OSError, json.JSONDecodeError):  # a rank manifest being replaced: skip it
            continue
        done.update({e["file"]: e for e in entries if e.get("params") == params})
    return done


def _run_group(fn, group, batch_size: int, pad: int, device) -> np.ndarray:
    out = []
    with torch.no_grad():
        for j in range(0, len(group), batch_size):
            batch = [w[2] for w in group[j:j + batch_size]]
            T = max(len(c) for c in batch)
            ids = torch.full((len(batch), T), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), T), dtype=torch.long)
            for r, c in enumerate(batch):
                ids[r, :len(c)] = torch.tensor(c)
                mask[r, :len(c)] = 1
            h = fn(ids.to(device), mask.to(device))
            keep = mask.to(h.device).bool()
            out.append(h[keep].to(torch.float16).cpu().numpy())
    return np.concatenate(out, 0)
