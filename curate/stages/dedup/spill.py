"""Shingle hashes of many rows kept on disk and read back a block of pairs at a time (issue 16).

``dedup.minhash`` verifies candidate pairs by exact Jaccard of their shingle sets. In memory it
shingles every candidate row at once: ~8 bytes a shingle, ~3.7 KB a row of Chinese text, and the
candidate rows grow faster than the corpus where documents share passages (35k candidate pairs at
0.5 GiB of the memory benchmark, 122k at 1 GiB). ``ShingleStore`` shingles those rows shard by
shard into one file (offsets in memory: 8 bytes a row) and ``jaccard`` reads only the rows of
``BLOCK_PAIRS`` pairs at a time (``os.pread``, so the file's pages stay in the kernel's cache,
not in the process), giving exactly the in-memory values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from curate.text.lsh import jaccard_pairs
from curate.text.minhash import byte_chunks

BLOCK_PAIRS = 25_000  # at most 50k rows' shingles in memory (~0.2 GB of Chinese text)


class ShingleStore:
    """The shingle hashes of sorted table rows ``rows``, written to ``folder/shingles.bin``."""

    def __init__(
        self,
        table: Any,
        rows: np.ndarray,
        texts: Callable[[pl.DataFrame], pl.Series],
        shingles: Callable[[pl.Series], tuple[np.ndarray, np.ndarray]],
        *,
        columns: list[str],
        folder: Path,
        chunk_bytes: int,
        workers: int,
    ) -> None:
        self.rows, self.workers = rows, workers
        self.path = Path(folder) / "shingles.bin"
        self.offsets = np.zeros(rows.size + 1, dtype=np.int64)
        offs = table.offsets()
        with open(self.path, "wb") as f:
            for n in range(len(table)):
                a, b = (int(x) for x in np.searchsorted(rows, [offs[n], offs[n + 1]]))
                if b == a:
                    continue
                t = texts(table.read(n, columns)[rows[a:b] - offs[n]])
                for x, y in byte_chunks(t, chunk_bytes):
                    h, off = shingles(t.slice(x, y - x))
                    f.write(np.ascontiguousarray(h, dtype=np.uint64).tobytes())
                    self.offsets[a + x + 1 : a + y + 1] = self.offsets[a + x] + off[1:]
                del t

    def jaccard(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Exact Jaccard of the shingle sets of rows ``i[k]`` and ``j[k]`` (each in ``rows``)."""
        out = np.empty(i.size, dtype=np.float64)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for s in range(0, i.size, BLOCK_PAIRS):
                bi, bj = i[s : s + BLOCK_PAIRS], j[s : s + BLOCK_PAIRS]
                u = np.unique(np.concatenate([bi, bj]))
                loc = np.searchsorted(self.rows, u)
                starts, lens = self.offsets[loc], self.offsets[loc + 1] - self.offsets[loc]
                off = np.zeros(u.size + 1, dtype=np.int64)
                np.cumsum(lens, out=off[1:])
                h = np.empty(int(off[-1]), dtype=np.uint64)
                for k in range(u.size):
                    if lens[k]:
                        buf = os.pread(fd, int(lens[k]) * 8, int(starts[k]) * 8)
                        h[off[k] : off[k + 1]] = np.frombuffer(buf, dtype=np.uint64)
                out[s : s + BLOCK_PAIRS] = jaccard_pairs(
                    h, off, np.searchsorted(u, bi), np.searchsorted(u, bj), workers=self.workers
                )
        finally:
            os.close(fd)
        return out
