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

import json
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.pipeline.memo import recall, remember

# Stage files are checkpoints, read back only to resume (and by readers such as trace): LZ4 writes
# the 136k-document bench table in 0.27 s CPU and reads it in 0.07 s, where zstd level 1 took
# 0.40 s and 0.14 s (polars' default zstd level: 0.8 s to write), for files ~30% larger (47 vs
# 36 MB; 27 MB at the default level). Best of 4, 2 shared cores under load.
CHECKPOINT: dict = {"compression": "lz4"}


THIN = "rows"  # a thin stage's shard files (``pipeline.thin``): positions and changed columns
ROW = "__row"  # their position column (UInt32, in the base stage's shard of the same number)
BASE_KEY, COLUMNS_KEY = "curate.base", "curate.columns"  # their Parquet key-value metadata


def shard_name(n: int, prefix: str = "kept") -> str:
    return f"{prefix}-{n:05d}.parquet"


def write_shard(df: pl.DataFrame, path: Path) -> None:
    """``df`` to ``path`` through a temp file and a rename: a killed run never leaves half a shard.
    Inside ``pipeline.memo.memo()`` the frame is also kept in memory: the next stage reads it there."""
    tmp = path.with_name(path.name + ".part")
    df.write_parquet(tmp, **CHECKPOINT)
    os.replace(tmp, path)
    remember(path, df)


def read_shard(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """The shard at ``path`` (only ``columns``): from ``pipeline.memo`` when this process wrote it."""
    df = recall(path)
    if df is None:
        return pl.read_parquet(path, columns=columns)
    return df if columns is None else df.select(columns)


SHARD_ROWS = 100_000  # = LocalExecutor.BATCH_ROWS: a read's shards cut where the in-memory batches did
SHARD_BYTES = 256 << 20  # ... or sooner, when this much (polars' estimate) has gathered: long documents


class ShardWriter:
    """Canonical parts in, ``kept-NNNNN.parquet`` shards of exactly ``SHARD_ROWS`` rows out (the
    last one shorter), so a small read is one shard and a large one splits where a whole-table
    run's batches would: the shards change nothing, not even the merged stats of a row stage.

    A shard is written by one background thread while the reader parses on: Parquet encoding
    releases the GIL, and the reader is per-record Python, so the write is off the run's wall time
    (0.3-0.5 s of the bench corpus's ~1.5 s read). At most one shard waits to be written, so memory
    grows by one shard at most; a write's error is raised by the next ``add`` or by ``close``."""

    def __init__(self, sdir: Path) -> None:
        self.sdir, self.count = sdir, 0
        self.parts: list[pl.DataFrame] = []
        self.rows = self.bytes = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

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
        path = self.sdir / shard_name(self.count)
        self.count += 1
        self._wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="curate-shards")
        self._pending = self._pool.submit(write_shard, df, path)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()  # the writer's error, raised in the reader's thread

    def close(self, empty: pl.DataFrame) -> None:
        """Write what is left (an empty shard when nothing was read: a table always has one) and
        wait until every shard is on disk."""
        try:
            if self.parts:
                self._flush(final=True)
            if not self.count:
                self._write(empty)
            self._wait()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Let the writer thread go (after its last write); ``close`` calls it, and a failed read
        should too (``app.Runner.read``)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


@dataclass(frozen=True)
class Shards:
    """The kept shards of one stage directory, in row order, with their row counts.

    A shard of a *thin* stage (``pipeline.thin``) is ``rows-NNNNN.parquet`` instead: the positions
    of its kept rows in shard NNNNN of a full earlier stage (``bases[n]``, that shard's file) and
    only the columns that differ from it; ``columns[n]`` is its column order. ``read`` rebuilds it."""

    paths: tuple[Path, ...]
    rows: tuple[int, ...]
    bases: tuple[Path | None, ...] = ()
    columns: tuple[tuple[str, ...] | None, ...] = ()

    @classmethod
    def of(cls, sdir: Path, prefix: str = "kept") -> Shards:
        """The ``prefix-NNNNN.parquet`` files of ``sdir`` (row counts from the Parquet footers); for
        ``kept``, a thin stage's ``rows-NNNNN.parquet`` files take their shard's place."""
        sdir = Path(sdir)
        pat = "-[0-9][0-9][0-9][0-9][0-9].parquet"
        found = {p.name[-13:]: p for p in sdir.glob(f"{prefix}{pat}")}
        if prefix != "kept":
            paths = tuple(found[k] for k in sorted(found))
            return cls(paths, tuple(_num_rows(p) for p in paths))
        thin = {p.name[-13:]: p for p in sdir.glob(f"{THIN}{pat}")}
        paths, bases, columns = [], [], []
        for k in sorted(found.keys() | thin.keys()):
            if k in found:
                paths.append(found[k])
                bases.append(None)
                columns.append(None)
            else:
                meta = pl.read_parquet_metadata(thin[k])
                paths.append(thin[k])
                bases.append(sdir.parent / meta[BASE_KEY] / f"kept-{k}")
                columns.append(tuple(json.loads(meta[COLUMNS_KEY])))
        return cls(tuple(paths), tuple(_num_rows(p) for p in paths), tuple(bases), tuple(columns))

    @property
    def height(self) -> int:
        return sum(self.rows)

    def __len__(self) -> int:
        return len(self.paths)

    def base(self, n: int) -> Path | None:
        """The full shard file shard ``n`` is thin over (None: it is full itself)."""
        return self.bases[n] if self.bases else None

    def nbytes(self) -> int:
        """The table's size in memory: polars' estimate for the shards in ``memo()``, else the
        Parquet footers' uncompressed size (close to it); a thin shard's, pro rata of its base's."""
        total = 0
        for n, p in enumerate(self.paths):
            b = self.base(n)
            if b is None:
                total += _nbytes(p)
            else:
                total += int(_nbytes(b) * self.rows[n] / max(_num_rows(b), 1))
        return total

    def read(self, n: int, columns: list[str] | None = None) -> pl.DataFrame:
        b = self.base(n)
        if b is None:
            return read_shard(self.paths[n], columns)
        order = self.columns[n] or ()
        want = list(order) if columns is None else [c for c in columns if c in order]
        thin = read_shard(self.paths[n])
        own = [c for c in want if c in thin.columns]
        rest = [c for c in want if c not in thin.columns]
        out = thin.select(own)
        if rest:
            out = take(read_shard(b, rest), thin.get_column(ROW).to_numpy()).with_columns(out.get_columns())
        return out.select(want)

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
        if not self.paths:
            return pl.Schema()
        own, b = pl.read_parquet_schema(self.paths[0]), self.base(0)
        if b is None:
            return own
        base = pl.read_parquet_schema(b)
        return pl.Schema({c: own[c] if c in own else base[c] for c in self.columns[0] or ()})

    def select(self, *exprs: pl.Expr | str) -> pl.DataFrame:
        """``exprs`` evaluated shard by shard, concatenated: narrow columns of the whole table."""
        names = self.schema.names()
        parts = [self.select_one(n, *exprs, names=names) for n in range(len(self.paths))]
        return pl.concat(parts, how="vertical") if parts else pl.DataFrame()

    def select_one(self, n: int, *exprs: pl.Expr | str, names: list[str] | None = None) -> pl.DataFrame:
        """``exprs`` evaluated on shard ``n``, reading only the columns they name (``names``: the
        table's columns, when the caller has them)."""
        names = self.schema.names() if names is None else names
        need = sorted({c for e in exprs for c in _roots(e, names)}) or names[:1]  # a literal: the height
        return self.read(n, need or None).select(*exprs)

    def scan(self) -> pl.LazyFrame:
        """The table, lazily (for readers that filter or project: trace, ``Run.kept``); from
        memory when this process wrote every shard of it (``pipeline.memo``: the run's report)."""
        files = [*self.paths, *(b for b in self.bases if b is not None)]
        if files and all(recall(p) is not None for p in files):
            return pl.concat([self.read(n).lazy() for n in range(len(self.paths))], how="vertical")
        if not self.bases or all(b is None for b in self.bases):
            return pl.scan_parquet(list(self.paths))
        parts = []
        for n, p in enumerate(self.paths):
            b, order = self.base(n), list(self.columns[n] or ())
            if b is None:
                parts.append(pl.scan_parquet(p))
                continue
            own = pl.read_parquet_schema(p).names()
            base = pl.scan_parquet(b).with_row_index(ROW).select(ROW, *[c for c in order if c not in own])
            joined = pl.scan_parquet(p).join(base, on=ROW, how="left", maintain_order="left")
            parts.append(joined.select(order))
        return pl.concat(parts, how="diagonal_relaxed")

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
        return pl.concat([self.read(n) for n in range(len(self.paths))], how="vertical")


def take(df: pl.DataFrame, rows: np.ndarray) -> pl.DataFrame:
    """``df``'s rows at ``rows``: a boolean filter when they are increasing (a filter's positions;
    on the bench corpus ~20x cheaper than ``gather``, which copies every string), else a gather."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0 or (rows[0] >= 0 and rows[-1] < df.height and bool(np.all(rows[1:] > rows[:-1]))):
        mask = np.zeros(df.height, dtype=bool)
        mask[rows] = True
        return df.filter(pl.Series(mask))
    return df[pl.Series(rows, dtype=pl.UInt32)]


def _nbytes(path: Path) -> int:
    df = recall(path)
    if df is not None:
        return df.estimated_size()
    import pyarrow.parquet as pq  # not at import: it pulls pyarrow.fs and ssl (~0.2 s per process)

    md = pq.ParquetFile(path).metadata
    return sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))


def _num_rows(path: Path) -> int:
    df = recall(path)
    if df is not None:
        return df.height
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _roots(e: pl.Expr | str, names: list[str]) -> list[str]:
    """The input columns ``e`` reads (all of them for a wildcard, none for a literal)."""
    if isinstance(e, str):
        return [e]
    roots = e.meta.root_names()
    if not roots and not e.meta.has_multiple_outputs():  # ``pl.lit("all")``, ``pl.len()``
        return []
    return roots if roots and all(r in names for r in roots) else names
