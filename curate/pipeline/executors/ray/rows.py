"""Row stages on Ray Data: ``map_batches`` over Arrow blocks, tasks or (for model stages) actors.

A row stage decides each row alone, so every block is one independent call of ``stage.apply``.
Each call returns its whole ``StageResult`` (kept, removed, side, stats, warnings) pickled into one
record with the block's first ``__row``; the driver sorts by it and merges exactly as the local
executor does (kept and removed concatenated in input order, stats by ``pipeline.stats``). Why
not rows: the batches of one stage may differ in schema (a column all-null in one block), which
polars' diagonal concat resolves on the driver as locally, and stats and warnings must travel too.

A stage whose config names a ``model`` runs in an actor pool: the stage object (and the model it
loads on first use) lives once per actor instead of once per block.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import polars as pl
import pyarrow as pa

from curate.pipeline.executors.base import merge_results as merge_all
from curate.pipeline.executors.ray.session import ROW, to_dataset
from curate.pipeline.stage import Stage, StageResult
from curate.pipeline.stats import plain


def for_worker(stage: Stage) -> Stage:
    """A copy of ``stage`` whose kernels use one thread: a Ray task holds one CPU."""
    out = copy.copy(stage)
    out.ctx = dataclasses.replace(stage.ctx, workers=1)
    inner = getattr(stage, "stage", None)  # ScoreOnly wraps the row stage it scores with
    if isinstance(inner, Stage):
        out.stage = for_worker(inner)  # type: ignore[attr-defined]
    return out


def holds_model(stage: Stage) -> bool:
    """True when the stage's config names a model (it loads weights once per process)."""
    return "model" in type(stage.cfg).model_fields


def run_block(batch: pa.Table, stage: Stage) -> pa.Table:
    """One block through ``stage``: a one-record table (first ``__row``, pickled result)."""
    df = pl.from_arrow(batch)
    assert isinstance(df, pl.DataFrame)
    seq = int(df[ROW][0]) if df.height else -1
    res = stage.apply(df.drop(ROW))
    return pa.table(
        {"seq": pa.array([seq], pa.int64()), "result": pa.array([pickle.dumps(res)], pa.large_binary())}
    )


class StageActor:
    """An actor that builds nothing itself: it keeps the stage (and its lazily loaded model)."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    def __call__(self, batch: pa.Table) -> pa.Table:
        return run_block(batch, self.stage)


def apply_rows(stage: Stage, table: pl.DataFrame, *, blocks: int, actors: int) -> StageResult:
    """``stage`` over ``table`` in ``blocks`` Ray Data blocks; results merged in input order."""
    ds = to_dataset(table, blocks)
    remote = for_worker(stage)
    kw: dict[str, Any] = dict(batch_format="pyarrow", batch_size=None, zero_copy_batch=False)
    if holds_model(stage):
        from ray.data import ActorPoolStrategy

        pool = ActorPoolStrategy(size=actors)
        out = ds.map_batches(StageActor, fn_constructor_args=(remote,), compute=pool, **kw)
    else:
        out = ds.map_batches(run_block, fn_args=(remote,), **kw)
    results = sorted(
        (int(s), pickle.loads(r))
        for b in out.iter_batches(batch_format="pyarrow", batch_size=None)
        for s, r in zip(b.column("seq").to_pylist(), b.column("result").to_pylist(), strict=True)
    )
    return merge_results(stage, [r for _, r in results])


def merge_results(stage: Stage, parts: list[StageResult]) -> StageResult:
    """Block results in input order as one, with JSON stats (``executors.base.merge_results``)."""
    res = merge_all(stage, parts)
    res.stats = plain(res.stats)
    return res
