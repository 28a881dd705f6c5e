"""The Executor protocol: how the runner hands a stage a table.

An executor owns batching, processes and (later) shards; the stage owns only its logic. A row stage
may be called on any batch in any order, so an executor may split its input freely and concatenate
the results; a global stage gets the whole table (or, on a distributed executor, its distributed
form). The result must balance exactly as if the stage had seen the whole table at once.

Optional, for executors that stream a run's shards (``LocalExecutor``): ``streams = True`` and
``apply_raw(stage, frame)`` (``apply`` with the stats still typed, so the runner can merge them
across shards). With them the runner passes row stages one shard at a time
(``executors.segment``) and lets a global stage with ``decide`` read narrow columns; an executor
without them (Ray) gets every stage's whole input as one frame through ``apply``, as before.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import polars as pl

from curate.pipeline.stage import Stage, StageResult


@runtime_checkable
class Executor(Protocol):
    """Runs one stage over one table."""

    name: str

    def apply(self, stage: Stage, table: pl.DataFrame) -> StageResult:
        """The stage's result over all of ``table``: kept, removed, side outputs, merged stats."""
        ...
