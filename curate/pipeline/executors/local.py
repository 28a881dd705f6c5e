"""``LocalExecutor``: today's in-process execution. Row stages run in batches, global stages whole.

Batches bound a row stage's peak memory (its scratch columns exist for one batch at a time);
within a batch polars and the compiled kernels use every core, so one process is enough here.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from curate.pipeline.stage import Stage, StageResult

BATCH_ROWS = 100_000


def add_stats(total: dict[str, Any], part: dict[str, Any]) -> None:
    """Sum a row stage's per-batch stats (counts add; anything else keeps the last batch's value)."""
    for k, v in part.items():
        if (
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and isinstance(total.get(k, 0), (int, float))
        ):
            total[k] = total.get(k, 0) + v
        elif isinstance(v, dict):
            add_stats(total.setdefault(k, {}), v)
        else:
            total[k] = v


class LocalExecutor:
    """Runs a stage in this process: a row stage per ``batch_rows`` slice, a global stage at once."""

    name = "local"

    def __init__(self, *, batch_rows: int = BATCH_ROWS) -> None:
        self.batch_rows = batch_rows

    def apply(self, stage: Stage, table: pl.DataFrame) -> StageResult:
        if stage.scope == "global" or table.height <= self.batch_rows:
            return stage.apply(table)
        kept, removed, stats = [], [], {}
        for start in range(0, table.height, self.batch_rows):
            r = stage.apply(table.slice(start, self.batch_rows))
            kept.append(r.kept)
            if r.removed is not None:
                removed.append(r.removed)
            add_stats(stats, r.stats)
        return StageResult(
            kept=pl.concat(kept, how="diagonal_relaxed"),
            removed=pl.concat(removed, how="diagonal_relaxed") if removed else None,
            stats=stats,
        )
