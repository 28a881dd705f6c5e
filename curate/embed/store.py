"""Embeddings on disk, keyed by (embedder fingerprint, text hash), read back memory-mapped.

Layout: ``<cache>/embeddings/<fingerprint>/<shard>.keys.npy`` (sorted uint64 xxh3 hashes of the
embedded text) beside ``<shard>.vec.npy`` (float16 rows, same order). Shards are append-only and
written atomically (temp name, then rename), so concurrent runs never see half a shard; a lookup
binary-searches each shard's keys. Vectors never enter the run directory or stage checkpoints:
a stage reads them here in milliseconds. float16 halves the disk and halves nothing that matters:
the cosine error it adds is below 1e-3, and fresh vectors are rounded the same way so a first run
and a cached re-run decide identically.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np


class EmbeddingStore:
    """Append-only shards of (key, vector) for one embedder fingerprint."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _shards(self) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        if not self.root.is_dir():
            return out
        for kp in sorted(self.root.glob("*.keys.npy")):
            vp = kp.with_name(kp.name.replace(".keys.npy", ".vec.npy"))
            if vp.exists():
                out.append((np.load(kp, mmap_mode="r"), np.load(vp, mmap_mode="r")))
        return out

    def lookup(self, keys: np.ndarray, dim_hint: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``(found mask, float32 vectors or None)`` for ``keys``; rows not found are zeros."""
        found = np.zeros(len(keys), dtype=bool)
        vecs: np.ndarray | None = None
        for skeys, svecs in self._shards():
            if len(skeys) == 0:
                continue
            pos = np.searchsorted(skeys, keys)
            pos_c = np.minimum(pos, len(skeys) - 1)
            hit = (skeys[pos_c] == keys) & ~found
            if not hit.any():
                continue
            if vecs is None:
                vecs = np.zeros((len(keys), svecs.shape[1]), dtype=np.float32)
            vecs[hit] = svecs[pos_c[hit]]
            found |= hit
        return found, vecs

    def add(self, keys: np.ndarray, vecs: np.ndarray) -> None:
        """Write one shard (keys need not be sorted or unique; they are sorted and deduplicated)."""
        if len(keys) == 0:
            return
        keys, first = np.unique(keys, return_index=True)
        self.root.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex[:16]
        for part, arr in (("vec", np.asarray(vecs[first], dtype=np.float16)), ("keys", keys)):
            tmp = self.root / f".{name}.{part}.tmp{os.getpid()}.npy"
            np.save(tmp, arr)
            os.replace(tmp, self.root / f"{name}.{part}.npy")  # keys last: a shard exists once both do
