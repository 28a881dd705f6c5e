"""Sharded tables: a stage's rows as numbered Parquet files, read one shard at a time (issue 16).

Every stage directory holds its kept rows as ``kept-00000.parquet``, ``kept-00001.parquet``, ...
in row order; the concatenation of the shards *is* the table, so how rows fall into shards never
changes a result (row stages are batch-invariant by contract, global stages see row positions
across shards). ``Shards`` is the handle the runner passes between stages instead of a DataFrame:
row stages meet one shard at a time, global stages that can decide from narrow columns read only
those (``select``), and the rest ``collect`` the table. Memory: one shard (the reader cuts them at
``read.CHUNK_ROWS`` rows or ``read.CHUNK_CHARS`` characters) plus what the consumer keeps.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

# Stage files are checkpoints, read back only to resume: zstd level 1 writes the 124k-document
# rule-filter table in 0.17 s instead of 0.29 s at polars' default level and reads it back 1.4x
# faster, for files ~30% larger (36 vs 27 MB). The run's output keeps its own settings.
CHECKPOINT: dict = {"compression": "zstd", "compression_level": 1}


def shard_name(n: int, prefix: str = "kept") -> str:
    return f"{prefix}-{n:05d}.parquet"


def write_shard(df: pl.DataFrame, path: Path) -> None:
    """``df`` to ``path`` through a temp file and a rename: a killed run never leaves half a shard.
    Inside ``memo()`` the frame is also kept in memory, so the next stage need not read it back."""
    tmp = path.with_name(path.name + ".part")
    df.write_parquet(tmp, **CHECKPOINT)
    os.replace(tmp, path)
    if _MEMO is not None:
        _MEMO.put(path, df)


class _Memo:
    """Frames this process wrote as shards, by path, while their files are unchanged (path, size
    and mtime checked on every hit), newest kept first up to ``budget`` bytes (polars' estimate).

    A stage checkpoint is written for resume and read back by the next stage, the output writer
    and the ledger: on the 136k-document bench corpus every read-back of the table cost ~0.15-0.3 s
    CPU, and a run read each stage's shards two or three times. Memory: at most ``budget`` more."""

    def __init__(self, budget: int) -> None:
        self.budget, self.bytes = budget, 0
        self.frames: OrderedDict[str, tuple[tuple[int, int], pl.DataFrame, int]] = OrderedDict()

    def put(self, path: Path, df: pl.DataFrame) -> None:
        key = str(Path(path).resolve())
        self.drop(key)
        size = df.estimated_size()
        if size > self.budget:
            return
        st = os.stat(key)
        self.frames[key] = ((st.st_size, st.st_mtime_ns), df, size)
        self.bytes += size
        while self.bytes > self.budget:
            _, (_, _, s) = self.frames.popitem(last=False)
            self.bytes -= s

    def get(self, path: Path) -> pl.DataFrame | None:
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

    def drop(self, key: str) -> None:
        old = self.frames.pop(key, None)
        if old is not None:
            self.bytes -= old[2]


_MEMO: _Memo | None = None
MEMO_BYTES = 256 << 20  # one SHARD_BYTES shard's worth: the bench corpus (75 MB) fits whole


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


def read_shard(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """The shard at ``path`` (only ``columns``): from ``memo()`` when this process wrote it."""
    df = _MEMO.get(path) if _MEMO is not None else None
    if df is None:
        return pl.read_parquet(path, columns=columns)
    return df if columns is None else df.select(columns)


SHARD_ROWS = 100_000  # = LocalExecutor.BATCH_ROWS: a read's shards cut where the in-memory batches did
SHARD_BYTES = 256 << 20  # ... or sooner, when this much (polars' estimate) has gathered: long documents


class ShardWriter:
    """Canonical parts in, ``kept-NNNNN.parquet`` shards of exactly ``SHARD_ROWS`` rows out (the
    last one shorter), so a small read is one shard and a large one splits where a whole-table
    run's batches would: the shards change nothing, not even the merged stats of a row stage."""

    def __init__(self, sdir: Path) -> None:
        self.sdir, self.count = sdir, 0
        self.parts: list[pl.DataFrame] = []
        self.rows = self.bytes = 0

    def add(self, part: pl.DataFrame) -> None:
        from curate.schema import conform

        part = conform(part)
        self.parts.append(part)
        self.rows += part.height
        self.bytes += part.estimated_size()
        if self.rows >= SHARD_ROWS or self.bytes >= SHARD_BYTES:
            self._flush(final=self.bytes >= SHARD_BYTES)

    def _flush(self, *, final: bool) -> None:
        df = pl.concat(self.parts, how="vertical") if len(self.parts) > 1 else self.parts[0]
        self.parts = []
        start = 0
        while df.height - start >= SHARD_ROWS or (final and start < df.height):
            self._write(df.slice(start, SHARD_ROWS))
            start += SHARD_ROWS
        rest = df.slice(start)
        self.parts = [rest] if rest.height else []
        self.rows, self.bytes = rest.height, rest.estimated_size() if rest.height else 0

    def _write(self, df: pl.DataFrame) -> None:
        write_shard(df, self.sdir / shard_name(self.count))
        self.count += 1

    def close(self, empty: pl.DataFrame) -> None:
        """Write what is left (an empty shard when nothing was read: a table always has one)."""
        if self.parts:
            self._flush(final=True)
        if not self.count:
            self._write(empty)


@dataclass(frozen=True)
class Shards:
    """The kept shards of one stage directory, in row order, with their row counts."""

    paths: tuple[Path, ...]
    rows: tuple[int, ...]

    @classmethod
    def of(cls, sdir: Path, prefix: str = "kept") -> Shards:
        """The ``prefix-NNNNN.parquet`` files of ``sdir`` (row counts from the Parquet footers)."""
        paths = tuple(sorted(Path(sdir).glob(f"{prefix}-[0-9][0-9][0-9][0-9][0-9].parquet")))
        return cls(paths, tuple(_num_rows(p) for p in paths))

    @property
    def height(self) -> int:
        return sum(self.rows)

    def __len__(self) -> int:
        return len(self.paths)

    def nbytes(self) -> int:
        """The table's size in memory: polars' estimate for the shards in ``memo()``, else the
        Parquet footers' uncompressed size (close to it)."""
        total = 0
        for p in self.paths:
            df = _MEMO.get(p) if _MEMO is not None else None
            if df is not None:
                total += df.estimated_size()
            else:
                md = pq.ParquetFile(p).metadata
                total += sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
        return total

    def read(self, n: int, columns: list[str] | None = None) -> pl.DataFrame:
        return read_shard(self.paths[n], columns)

    def __iter__(self) -> Iterator[pl.DataFrame]:
        for n in range(len(self.paths)):
            yield self.read(n)

    def offsets(self) -> list[int]:
        """The global row position of each shard's first row, plus the total at the end."""
        out = [0]
        for r in self.rows:
            out.append(out[-1] + r)
        return out

    @property
    def schema(self) -> pl.Schema:
        return pl.read_parquet_schema(self.paths[0]) if self.paths else pl.Schema()

    def select(self, *exprs: pl.Expr | str) -> pl.DataFrame:
        """``exprs`` evaluated shard by shard, concatenated: narrow columns of the whole table."""
        names = self.schema.names()
        need = sorted({c for e in exprs for c in _roots(e, names)})
        parts = [read_shard(p, need or None).select(*exprs) for p in self.paths]
        return pl.concat(parts, how="vertical") if parts else pl.DataFrame()

    def gather(self, rows: np.ndarray, columns: list[str] | None = None) -> pl.DataFrame:
        """Rows at sorted positions ``rows`` of the whole table (only ``columns``), in that order;
        only the shards that hold one are read."""
        rows = np.asarray(rows, dtype=np.int64)
        offs = self.offsets()
        parts = []
        for n in range(len(self.paths)):
            a, b = np.searchsorted(rows, [offs[n], offs[n + 1]])
            if b > a:
                parts.append(self.read(n, columns)[rows[a:b] - offs[n]])
        if not parts:
            return pl.DataFrame(
                schema={c: t for c, t in self.schema.items() if columns is None or c in columns}
            )
        return pl.concat(parts, how="vertical")

    def collect(self) -> pl.DataFrame:
        """The whole table in memory (what a stage without a sharded form needs)."""
        if not self.paths:
            return pl.DataFrame()
        return pl.concat([read_shard(p) for p in self.paths], how="vertical")


def _num_rows(path: Path) -> int:
    df = _MEMO.get(path) if _MEMO is not None else None
    return df.height if df is not None else pq.ParquetFile(path).metadata.num_rows


def _roots(e: pl.Expr | str, names: list[str]) -> list[str]:
    """The input columns ``e`` reads (all of them for a wildcard)."""
    if isinstance(e, str):
        return [e]
    roots = e.meta.root_names()
    return roots if roots and all(r in names for r in roots) else names
