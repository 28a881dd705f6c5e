"""``LocalExecutor``: one machine. Row stages run in batches, global stages whole.

Batches bound a row stage's peak memory (its scratch columns exist for one batch at a time);
within a batch polars and the compiled kernels use threads. The runner streams a run's shards
through consecutive row stages (``executors.segment``) with this executor (``streams = True``):
each shard is one or more batches, so memory is one shard's worth; with ``workers > 1`` the shards
go to a pool of worker processes (``executors.pool``), each calling ``apply_raw`` on its shards, so
per-row Python that holds the GIL runs on every core too (memory: one shard per worker).

A ``thread_safe`` row stage (polars and GIL-releasing kernels only) also has each batch cut into
``ctx.threads`` row slices run at once in threads: its kernels already use every core, but the
polars steps between them (a regex pass, ``with_columns``, the split) run on one core each, and on
a shard that left the other core idle (issue 13: ~1/4 of the four Data-Juicer filters' time on the
bench corpus). Row stages are batch-invariant, so the merged result equals the whole batch's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import polars as pl

from curate.pipeline.executors.base import merge_results
from curate.pipeline.stage import Stage, StageResult
from curate.pipeline.stats import plain

BATCH_ROWS = 100_000
THREAD_ROWS = 16_384  # the smallest slice worth a thread: below it a batch runs whole


class LocalExecutor:
    """Runs a stage in this process: a row stage per ``batch_rows`` slice (``thread_safe`` ones in
    slices of at least ``thread_rows`` rows on ``ctx.threads`` threads), a global stage at once."""

    name = "local"
    streams = True  # the runner may hand row stages one shard at a time (executors.segment)

    def __init__(self, *, batch_rows: int = BATCH_ROWS, thread_rows: int = THREAD_ROWS) -> None:
        self.batch_rows = batch_rows
        self.thread_rows = thread_rows

    def apply(self, stage: Stage, table: pl.DataFrame) -> StageResult:
        res = self.apply_raw(stage, table)
        res.stats = plain(res.stats)
        return res

    def apply_raw(self, stage: Stage, table: pl.DataFrame) -> StageResult:
        """``apply`` with the stats still typed (``Count``/``Same``), to merge across shards."""
        if stage.scope == "global":
            return stage.apply(table)
        safe = getattr(stage, "thread_safe", False)
        threads = min(stage.ctx.threads, table.height // self.thread_rows) if safe else 1
        size = min(self.batch_rows, -(-table.height // threads)) if threads > 1 else self.batch_rows
        if table.height <= size:
            return stage.apply(table)
        starts = range(0, table.height, size)
        parts = [table.slice(start, size) for start in starts]
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                results = list(pool.map(stage.apply, parts))
        else:
            results = [stage.apply(part) for part in parts]
        return merge_results(stage, results, starts)
