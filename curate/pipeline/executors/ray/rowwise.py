"""Global stages whose costly part is row-local: that part per block on Ray, the global decision
on the driver with the stage's own code (``tag.intent``, ``mix.into_pretraining``).

Such a stage offers ``rowwise(block) -> block`` (one output row per input row, in order, columns in
one order whatever the rows) and ``combine(table, rowwise_table) -> StageResult``; its ``apply`` is
``combine(df, rowwise(df))``, so a Ray run is the local run with the first step spread:

* ``tag.intent``: ``rowwise`` matches one regex per tag over the block (``tag_intent`` before the
  frequency floor); ``combine`` counts tags over all rows, drops the rare ones, writes the stats;
* ``mix.into_pretraining``: ``rowwise`` renders each chat row as a document (template render,
  content hash) and measures every row (tokenizer call): the per-row Python; ``combine`` runs the
  allocation (``mix.allocate``: numpy over the part and unit columns) and the ledger.

The rowwise blocks come back to the driver in ``__row`` order: the runner hands every stage one
table and takes one back, so the driver holds it anyway; the decision itself reads only narrow
columns (tags; part and units). Output identical to the local executor (the same ``combine``).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from curate.pipeline.executors.ray.session import ROW, collect, map_frames, to_dataset
from curate.pipeline.stage import StageResult


def apply_rowwise(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """``stage.combine(df, stage.rowwise(df))`` with ``rowwise`` per block on Ray."""
    del parts
    check = getattr(stage, "check_input", None)
    if callable(check):
        check(df)  # a StageError here, before any block runs

    def rows(b: pl.DataFrame) -> pl.DataFrame:
        return stage.rowwise(b.drop(ROW)).with_columns(b[ROW])

    done = collect(map_frames(to_dataset(df, blocks), rows)).sort(ROW).drop(ROW)
    return stage.combine(df, done)
