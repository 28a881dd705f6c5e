"""The output's row order, out of core: the same seeded permutation as ``formats.write.shuffled``.

``output.shuffle`` (on by default) permutes the train table with NumPy's ``default_rng(seed)``.
In memory that is one gather. For a sharded table it is the same permutation, applied in two
passes so that only one shard and one output chunk are ever in memory: every row's output position
is ``inv[row]`` (the inverse permutation: 8 bytes a row), pass one appends each shard's rows to the
bucket file of their output chunk (``pos // OUT_ROWS``), pass two reads one bucket at a time and
sorts it by position. The rows come out in exactly ``df[permutation]`` order, so the output file is
the same whichever path wrote it. Cost: the table written and read once more (zstd-1 Parquet).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import polars as pl

from curate.formats.write import shuffled
from curate.pipeline.shards import SHARD_BYTES, Shards

OUT_ROWS = 50_000  # rows of one output chunk (one bucket of the shuffle)
# A sharded table this small (in memory) is ordered and written as one frame, as a whole-table run
# does: the same rows in the same order, without the buckets' write and read, and each output
# form written by one vectorized call instead of frame by frame. On the 136k-document bench corpus
# (75 MB) the streamed output cost ~2.5 s CPU more. Memory: the table and its shuffled copy.
MEMORY_BYTES = SHARD_BYTES
Chunks = Callable[[], Iterator[pl.DataFrame]]


class Whole:
    """Chunks of a table held in memory: ``chunks()`` yields the one frame, ``frame`` is it (the run
    hands it to its report, which then reads the output from memory, not back from Parquet)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __call__(self) -> Iterator[pl.DataFrame]:
        return iter([self.frame])


def ordered(table: pl.DataFrame | Shards, *, shuffle: bool, seed: int, scratch: Path) -> Chunks:
    """A factory of the output rows as frames in final order (call it again to re-read them)."""
    if isinstance(table, pl.DataFrame):
        return Whole(shuffled(table, seed=seed) if shuffle else table)
    if table.height <= OUT_ROWS or table.nbytes() <= MEMORY_BYTES:  # the in-memory path itself
        df = table.collect()
        return Whole(shuffled(df, seed=seed) if shuffle else df)
    if not shuffle:
        return lambda: iter(table)
    buckets = _bucket(table, seed=seed, scratch=scratch)

    def chunks() -> Iterator[pl.DataFrame]:
        for p in buckets:
            yield pl.read_parquet(p).sort("__pos").drop("__pos")

    return chunks


def _bucket(table: Shards, *, seed: int, scratch: Path) -> list[Path]:
    n = table.height
    perm = np.random.default_rng(seed).permutation(n)
    inv = np.empty(n, dtype=np.int64)
    inv[perm] = np.arange(n, dtype=np.int64)
    del perm
    count = -(-n // OUT_ROWS)
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    paths = [scratch / f"bucket-{b:05d}.parquet" for b in range(count)]
    import pyarrow.parquet as pq  # only for out-of-core output: it pulls pyarrow.fs and ssl (~0.2 s)

    writers: dict[int, pq.ParquetWriter] = {}
    offs = table.offsets()
    try:
        for s, df in enumerate(table):
            pos = inv[offs[s] : offs[s + 1]]
            tagged = df.with_columns(__pos=pl.Series(pos, dtype=pl.Int64))
            ids = pos // OUT_ROWS
            for b in np.unique(ids):
                part = tagged.filter(pl.Series(ids == b)).to_arrow()
                if b not in writers:
                    writers[b] = pq.ParquetWriter(
                        paths[b], part.schema, compression="zstd", compression_level=1
                    )
                writers[b].write_table(part)
    finally:
        for w in writers.values():
            w.close()
    return paths
