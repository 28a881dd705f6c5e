"""``LocalExecutor``: today's in-process execution. Row stages run in batches, global stages whole.

Batches bound a row stage's peak memory (its scratch columns exist for one batch at a time);
within a batch polars and the compiled kernels use every core, so one process is enough here.
"""

from __future__ import annotations

import polars as pl

from curate.pipeline.stage import Stage, StageResult
from curate.pipeline.stats import merge_stats, plain

BATCH_ROWS = 100_000


class LocalExecutor:
    """Runs a stage in this process: a row stage per ``batch_rows`` slice, a global stage at once."""

    name = "local"

    def __init__(self, *, batch_rows: int = BATCH_ROWS) -> None:
        self.batch_rows = batch_rows

    def apply(self, stage: Stage, table: pl.DataFrame) -> StageResult:
        if stage.scope == "global" or table.height <= self.batch_rows:
            res = stage.apply(table)
            res.stats = plain(res.stats)
            return res
        kept, removed, stats, warnings = [], [], {}, []
        for start in range(0, table.height, self.batch_rows):
            r = stage.apply(table.slice(start, self.batch_rows))
            kept.append(r.kept)
            if r.removed is not None:
                removed.append(r.removed)
            merge_stats(stats, r.stats, stage=stage.name)
            warnings += [w for w in r.all_warnings() if w not in warnings]
        return StageResult(
            kept=pl.concat(kept, how="diagonal_relaxed"),
            removed=pl.concat(removed, how="diagonal_relaxed") if removed else None,
            stats=plain(stats),
            warnings=warnings,
        )
