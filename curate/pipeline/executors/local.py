"""``LocalExecutor``: one machine. Row stages run in batches, global stages whole.

Batches bound a row stage's peak memory (its scratch columns exist for one batch at a time);
within a batch polars and the compiled kernels use threads. The runner streams a run's shards
through consecutive row stages (``executors.segment``) with this executor (``streams = True``):
each shard is one or more batches, so memory is one shard's worth; with ``workers > 1`` the shards
go to a pool of worker processes (``executors.pool``), each calling ``apply_raw`` on its shards, so
per-row Python that holds the GIL runs on every core too (memory: one shard per worker).
"""

from __future__ import annotations

import polars as pl

from curate.pipeline.executors.base import merge_results
from curate.pipeline.stage import Stage, StageResult
from curate.pipeline.stats import plain

BATCH_ROWS = 100_000


class LocalExecutor:
    """Runs a stage in this process: a row stage per ``batch_rows`` slice, a global stage at once."""

    name = "local"
    streams = True  # the runner may hand row stages one shard at a time (executors.segment)

    def __init__(self, *, batch_rows: int = BATCH_ROWS) -> None:
        self.batch_rows = batch_rows

    def apply(self, stage: Stage, table: pl.DataFrame) -> StageResult:
        res = self.apply_raw(stage, table)
        res.stats = plain(res.stats)
        return res

    def apply_raw(self, stage: Stage, table: pl.DataFrame) -> StageResult:
        """``apply`` with the stats still typed (``Count``/``Same``), to merge across shards."""
        if stage.scope == "global" or table.height <= self.batch_rows:
            return stage.apply(table)
        parts = range(0, table.height, self.batch_rows)
        return merge_results(stage, [stage.apply(table.slice(start, self.batch_rows)) for start in parts])
