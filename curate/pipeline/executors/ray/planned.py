"""Mixing and capping on Ray: row-local work per block, the decision from narrow columns, the split
per block. For a global stage that offers ``prepare`` / ``narrow`` / ``plan`` (``mix.ratio``,
``cap.per_task``; see ``stages.mix.allocate.Plan``):

1. ``prepare`` per block (``mix.ratio``: token counts with the chat template, the costly part);
   the prepared blocks stay in the object store.
2. The columns ``narrow`` names (group, task, units, score: tens of bytes a row) come to the
   driver, in ``__row`` order; ``plan`` decides there, with the same code the local executor runs
   (per-group counts -> targets -> which rows, how many copies).
3. The plan goes to the object store once; each block takes its rows' part (by ``__row``) and is
   split per block (``Plan.carry_out``); the driver merges in ``__row`` order and ``Plan.finish``
   orders the removed ledger as locally.
Memory on the driver: the narrow columns and the plan (~40 bytes a row), then the merged result
(the runner's contract is one in-memory table per stage).
"""

from __future__ import annotations

import pickle
from typing import Any

import polars as pl

from curate.pipeline.executors.ray.rows import merge_results
from curate.pipeline.executors.ray.session import ROW, collect, map_frames, to_dataset
from curate.pipeline.stage import StageResult, plans

__all__ = ["apply_planned", "plans"]  # ``plans``: the one test both executors use (pipeline.stage)


def apply_planned(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """The stage's result, identical to ``stage.apply(df)``."""
    import ray

    prepare = getattr(stage, "prepare", None)
    ds = to_dataset(df, blocks)
    if callable(prepare):

        def prep(b: pl.DataFrame) -> pl.DataFrame:
            return prepare(b.drop(ROW)).with_columns(b[ROW])

        ds = map_frames(ds, prep).materialize()
    else:
        stage.narrow(df.schema)  # a missing column is a StageError here, not inside a Ray task

    def cut(b: pl.DataFrame) -> pl.DataFrame:
        return b.select(ROW, *stage.narrow(b.drop(ROW).schema))

    narrow = collect(map_frames(ds, cut)).sort(ROW).drop(ROW)
    plan = stage.plan(narrow)
    ref = ray.put(plan)

    def carry(b: pl.DataFrame) -> pl.DataFrame:
        p = ray.get(ref)
        res = p.carry_out(b.drop(ROW), p.rows[b[ROW].to_numpy()])
        return pl.DataFrame(
            {"seq": [int(b[ROW][0])], "result": [pickle.dumps(res)]},
            schema={"seq": pl.Int64, "result": pl.Binary},
        )

    out = collect(map_frames(ds, carry)).sort("seq")
    return plan.finish(merge_results(stage, [pickle.loads(r) for r in out["result"]]))
