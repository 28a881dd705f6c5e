"""``VectorFile``: an n x d float32 matrix on disk that slices and gathers rows like an array.

The local executor's embedding stages (``executors.embedded``) keep a table's vectors here instead
of in memory: 100k rows of lexical-rp (1,024 dims) are 400 MB. Each read or write maps the file,
copies the rows and unmaps it again, so the process holds only the rows it asked for: a memmap
kept open would count every page it ever touched in the resident set (file-backed, reclaimable,
but what ``ru_maxrss`` and a container's limit see). The kernels (``embed.cluster.nearest``,
``embed.greedy.greedy_keep``, k-means on the fit sample) read ``x[lo:hi]`` or ``x[rows]``, so an
ndarray and a ``VectorFile`` go through the same code and give the same floats.

The file is a ``.npy`` (``numpy.lib.format``), created when the first rows arrive (the width is
the embedder's), zero-filled; float32 because the vectors are unit-normalized after the float16
rounding of the cache, which float16 storage would round again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class VectorFile:
    """Rows of a float32 matrix in ``path`` (``n`` rows; the width comes with the first write)."""

    def __init__(self, path: Path, n: int) -> None:
        self.path, self.n = Path(path), n
        self.dim: int | None = None
        if self.path.exists():
            self.dim = int(np.load(self.path, mmap_mode="r").shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return self.n, self.dim or 0

    def _map(self, mode: str) -> np.ndarray:
        return np.load(self.path, mmap_mode=mode)  # type: ignore[call-overload,no-any-return]

    def __getitem__(self, rows: Any) -> np.ndarray:
        if self.dim is None:
            return np.zeros((len(np.arange(self.n)[rows]), 0), dtype=np.float32)
        m = self._map("r")
        try:
            return np.array(m[rows], dtype=np.float32)
        finally:
            del m

    def __setitem__(self, rows: Any, value: np.ndarray) -> None:
        if self.dim is None:
            self.dim = int(np.shape(value)[-1])
            made = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32, shape=(self.n, self.dim))
            del made
        m = self._map("r+")
        try:
            m[rows] = value  # the page cache holds it: the next map reads it back
        finally:
            del m

    def subset(self, rows: np.ndarray) -> Rows:
        """The rows ``rows`` (in that order) as a matrix that reads only what is indexed:
        ``select.diverse``'s chunked repr walk over one group never holds the group's vectors."""
        return Rows(self, np.asarray(rows, dtype=np.int64))


class Rows:
    """Some rows of a ``VectorFile``, lazily: ``r[sel]`` reads the file's rows ``rows[sel]``."""

    def __init__(self, file: VectorFile, rows: np.ndarray) -> None:
        self.file, self.rows = file, rows

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), self.file.shape[1]

    def __getitem__(self, sel: Any) -> np.ndarray:
        return self.file[self.rows[sel]]
