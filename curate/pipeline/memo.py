"""Frames a run wrote as shards, kept in memory for the run: the next reader need not parse them.

A stage checkpoint is written for resume and read back by the next stage, the output writer and
the ledger: on the 136k-document bench corpus each read-back of the table cost ~0.15-0.3 s CPU, and
a run read its shards two or three times. ``memo()`` (``app.run`` holds one for a run) keeps what
``shards.write_shard`` writes, by path, while the file is unchanged (size and mtime checked on each
hit), up to ``budget`` bytes (polars' estimate). It is for runs whose tables fit: the first frame past
the budget empties it and turns it off for the run. Keeping the newest frames instead (an LRU) gained
little, since a streamed stage reads its shards from the first, and it held ~3 GiB more than its
budget on a 1 GiB corpus (bench/memory_curve.sh: 4.3 GiB peak against 1.2). Memory: at most ``budget``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

MEMO_BYTES = 256 << 20  # one ``shards.SHARD_BYTES`` shard's worth: the bench corpus (75 MB) fits whole


class _Memo:
    """Frames by path, with the (size, mtime) their file had; all dropped, and no more kept, past
    ``budget``. Thread-safe: the reader's shard writer (``shards.ShardWriter``) puts from its thread."""

    def __init__(self, budget: int) -> None:
        self.budget, self.bytes, self.full = budget, 0, False
        self.frames: OrderedDict[str, tuple[tuple[int, int], pl.DataFrame, int]] = OrderedDict()
        self.lock = threading.RLock()

    def put(self, path: Path, df: pl.DataFrame) -> None:
        with self.lock:
            self._put(path, df)

    def _put(self, path: Path, df: pl.DataFrame) -> None:
        key = str(Path(path).resolve())
        self.drop(key)
        if self.full:
            return
        size = df.estimated_size()
        if self.bytes + size > self.budget:  # the run's tables outgrow the memo: it is for small runs
            self.full = True
            self.frames.clear()
            self.bytes = 0
            return
        st = os.stat(key)
        self.frames[key] = ((st.st_size, st.st_mtime_ns), df, size)
        self.bytes += size

    def get(self, path: Path) -> pl.DataFrame | None:
        with self.lock:
            return self._get(path)

    def _get(self, path: Path) -> pl.DataFrame | None:
        key = str(Path(path).resolve())
        hit = self.frames.get(key)
        if hit is None:
            return None
        try:
            st = os.stat(key)
        except FileNotFoundError:
            self.drop(key)
            return None
        if (st.st_size, st.st_mtime_ns) != hit[0]:
            self.drop(key)
            return None
        return hit[1]

    def moved(self, old: Path, new: Path) -> None:
        """Re-key the frames under directory ``old``, just renamed to ``new``."""
        a, b = str(Path(old).resolve()), str(Path(new).resolve())
        with self.lock:
            self._move(a, b)

    def _move(self, a: str, b: str) -> None:
        for key in [k for k in self.frames if k.startswith(a + os.sep)]:
            self.frames[b + key[len(a) :]] = self.frames.pop(key)

    def drop(self, key: str) -> None:
        old = self.frames.pop(key, None)
        if old is not None:
            self.bytes -= old[2]


_MEMO: _Memo | None = None


@contextmanager
def memo(budget: int | None = None) -> Iterator[None]:
    """Keep the shards this process writes in memory (``_Memo``) for the duration: a run's scope."""
    global _MEMO
    outer = _MEMO
    _MEMO = _Memo(MEMO_BYTES if budget is None else budget)
    try:
        yield
    finally:
        _MEMO = outer


def remember(path: str | os.PathLike, df: pl.DataFrame) -> None:
    """Keep ``df`` (just written to ``path``) when a ``memo()`` is open."""
    if _MEMO is not None:
        _MEMO.put(Path(path), df)


def recall(path: str | os.PathLike) -> pl.DataFrame | None:
    """The frame last written to ``path`` by this process, if kept and the file is unchanged."""
    return None if _MEMO is None else _MEMO.get(Path(path))


def moved(old: str | os.PathLike, new: str | os.PathLike) -> None:
    """Directory ``old`` (a stage's ``.tmp``) was renamed to ``new``: its kept frames follow."""
    if _MEMO is not None:
        _MEMO.moved(Path(old), Path(new))
