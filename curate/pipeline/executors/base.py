"""The Executor protocol: how the runner hands a stage a table.

An executor owns batching, processes and (later) shards; the stage owns only its logic. A row stage
may be called on any batch in any order, so an executor may split its input freely and concatenate
the results; a global stage gets the whole table (or, on a distributed executor, its distributed
form). The result must balance exactly as if the stage had seen the whole table at once.

Optional, for executors that stream a run's shards (``LocalExecutor``): ``streams = True`` and
``apply_raw(stage, frame)`` (``apply`` with the stats still typed, so the runner can merge them
across shards). With them the runner passes row stages one shard at a time
(``executors.segment``) and lets a global stage with ``decide`` or ``plan`` read narrow columns
(``executors.planned``); an executor without them (Ray) gets every stage's whole input as one
frame through ``apply``, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl

from curate.pipeline.stage import Stage, StageResult
from curate.pipeline.stats import merge_stats


@runtime_checkable
class Executor(Protocol):
    """Runs one stage over one table."""

    name: str

    def apply(self, stage: Stage, table: pl.DataFrame) -> StageResult:
        """The stage's result over all of ``table``: kept, removed, side outputs, merged stats."""
        ...


def merge_results(stage: Stage, parts: list[StageResult], starts: Sequence[int] | None = None) -> StageResult:
    """Results of ``stage`` on consecutive slices of its input as one result, in input order: what
    every executor does with its batches or blocks. Stats stay typed (``Count``/``Same``) so a
    caller may merge again across shards; ``pipeline.stats.plain`` makes them JSON. With ``starts``
    (each slice's first row in the input) the kept rows' positions are merged too, when every part
    has them (``StageResult.kept_rows``: the thin checkpoint needs them)."""
    kept, removed, stats, warnings, added = [], [], {}, [], 0
    side: dict[str, list[pl.DataFrame]] = {}
    for r in parts:
        kept.append(r.kept)
        if r.removed is not None:
            removed.append(r.removed)
        for k, v in r.side.items():
            side.setdefault(k, []).append(v)
        added += r.added
        merge_stats(stats, r.stats, stage=stage.name)
        warnings += [w for w in r.all_warnings() if w not in warnings]
    rows = None
    if starts is not None and all(r.kept_rows is not None for r in parts):
        at = zip(parts, starts, strict=True)
        rows = np.concatenate([np.asarray(r.kept_rows, np.int64) + a for r, a in at])
    return StageResult(
        kept=pl.concat(kept, how="diagonal_relaxed"),
        removed=pl.concat(removed, how="diagonal_relaxed") if removed else None,
        side={k: pl.concat(v, how="diagonal_relaxed") for k, v in side.items()},
        added=added,
        stats=stats,
        warnings=warnings,
        kept_rows=rows,
    )
