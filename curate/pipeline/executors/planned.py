"""Planned global stages on one machine (issue 16): mixing, caps, samples, selections and the eval
split decide from narrow columns, then carry their plan out shard by shard.

A global stage with ``narrow``/``plan`` (``pipeline.stage.plans``: ``mix.ratio``,
``mix.temperature``, ``cap.per_task``, ``cap.total``, ``sample.random``, ``select.top``,
``select.per_cluster``, ``select.tag_coverage``, ``split``) runs in three steps inside its
``NN-<stage>.tmp`` dir, as the Ray executor runs it per block (``executors.ray.planned``):

1. *Narrow.* Without ``prepare`` the columns ``narrow`` names are read straight from the shards
   (``Shards.select``: a shard at a time, only the columns they name). With ``prepare`` (the mixing
   stages' measure columns: token counts through the chat template) each shard is prepared once;
   the columns it adds or changes go to ``prep-NNNNN.parquet`` and the narrow columns to
   ``narrow-NNNNN.parquet``. Keeping the prepared columns rather than preparing again while
   carrying out halves the stage's cost: on 3,400 LawBench rows ``mix.ratio``'s ``prepare`` (token
   counts with SmolLM2's chat template) took 2.31 s CPU, storing and reading back its four int64
   columns 0.006 s (33 KB).
2. *Plan.* ``stage.plan`` on the narrow columns of every row, in row order; pickled to
   ``plan.pkl`` so a resumed run neither prepares nor plans again.
3. *Carry out.* Per shard, ``Plan.carry_out`` with the shard's rows of the plan: kept (thin over
   the input when the rows are only dropped or repeated, ``pipeline.thin``), removed (one file per
   reason, so the merged ledger is in ``Plan.finish``'s order), side outputs, then the part marker
   (``executors.segment``); a killed run of the same recipe resumes at the first unfinished shard.
   The loop (``carry``) also carries out the embedding stages' decisions (``executors.embedded``).

The stage directory ends exactly as ``stage.apply`` on the whole table would leave it: same kept
rows, removed ledger, side outputs, stats and warnings (``tests/pipeline/test_planned.py``).
Memory: one shard (prepared) plus the narrow columns and the plan's rows (copies, reason, value,
threshold, side: ~16-21 bytes a row by polars' estimate, mostly nulls), not the table.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from curate.pipeline.executors.segment import Step, Totals, _close, _done, _write_part
from curate.pipeline.shards import CHECKPOINT, Shards, shard_name
from curate.pipeline.stage import StageResult
from curate.pipeline.thin import Lineage, lineage

PLAN = "plan.pkl"

log = logging.getLogger(__name__)


def run_planned(step: Step, src: Shards) -> Totals:
    """Carry out ``step.stage``'s plan over ``src`` shard by shard into ``step.tmp`` (see the module
    docstring); the stage's ledger. The caller closes the stage dir."""
    stage, tmp = step.stage, step.tmp
    offs = src.offsets()

    def part(plan: Any, df: pl.DataFrame, n: int) -> StageResult:
        rows = plan.rows.slice(offs[n], src.rows[n])
        res = plan.carry_out(df, rows)
        # the kept rows' positions: each row, then its repeats (``take_copies``' order)
        res.kept_rows = np.repeat(np.arange(df.height), rows["copies"].to_numpy())
        if n == 0:  # the plan's stats and warnings are the stage's, once (as ``Plan.finish`` gives them)
            res.stats, res.warnings = plan.stats, list(plan.warnings)
        return res

    return carry(
        step,
        src,
        lambda: stage.plan(_narrow(stage, src, tmp)),  # type: ignore[attr-defined]
        part,
        read=lambda n: _prepared(src, n, tmp),
        order=lambda plan: plan.reasons if len(plan.reasons) > 1 else None,
        scratch=lambda: [*tmp.glob("narrow-*.parquet"), *tmp.glob("prep-*.parquet")],
    )


def carry(
    step: Step,
    src: Shards,
    decide: Callable[[], Any],
    part: Callable[[Any, pl.DataFrame, int], StageResult],
    *,
    read: Callable[[int], tuple[pl.DataFrame, Lineage]],
    order: Callable[[Any], list[str] | None] = lambda _: None,
    scratch: Callable[[], list[Path]] = list,
) -> Totals:
    """A global decision carried out shard by shard (planned stages here, embedding stages in
    ``executors.embedded``): ``decide()`` once, pickled to ``plan.pkl`` (a resumed run loads it),
    then per unfinished shard ``part(decision, shard, n)`` (the shard and its lineage from
    ``read(n)``) written with its marker; the removed files merged in ``order(decision)``; the
    plan and ``scratch()`` deleted at the end. The caller closes the stage dir."""
    tmp = step.tmp
    dec = _load(tmp / PLAN)
    if dec is None:
        dec = decide()
        _save_plan(dec, tmp / PLAN)
    else:
        done = sum(_done(tmp, n) for n in range(len(src)))
        name = step.stage.name
        log.info("%s: plan and %d of %d shards from an earlier run; resuming", name, done, len(src))
    reasons = order(dec)
    for n in range(len(src)):
        if _done(tmp, n):
            continue
        df, at = read(n)
        _write_part(tmp, n, part(dec, df, n), df.height, df, at, reasons)
    t = _close(step, len(src), reasons)
    for p in [tmp / PLAN, *scratch()]:
        p.unlink(missing_ok=True)
    return t


def _narrow(stage: Any, src: Shards, tmp: Path) -> pl.DataFrame:
    """The narrow columns of every row, in row order (prepared shard by shard when the stage prepares)."""
    prepare = getattr(stage, "prepare", None)
    if not callable(prepare):
        return src.select(*stage.narrow(src.schema))
    parts = []
    for n in range(len(src)):
        path = tmp / shard_name(n, "narrow")
        if not path.exists():  # the narrow file is written last: its shard is prepared
            df = src.read(n)
            prepared = prepare(df)
            extra = _changed(df, prepared)
            if extra:
                _save(prepared.select(extra), tmp / shard_name(n, "prep"))
            _save(prepared.select(stage.narrow(prepared.schema)), path)
        parts.append(pl.read_parquet(path))
    return pl.concat(parts, how="vertical")


def _changed(df: pl.DataFrame, prepared: pl.DataFrame) -> list[str]:
    """The columns of ``prepared`` that ``df`` lacks or holds otherwise, in ``prepared``'s order;
    all of them when putting those back into ``df`` would not give ``prepared``'s column order."""
    extra = [
        c
        for c in prepared.columns
        if c not in df.columns
        or df.schema[c] != prepared.schema[c]
        or not df.get_column(c).equals(prepared.get_column(c))
    ]
    if df.with_columns(prepared.select(extra).get_columns()).columns != prepared.columns:
        return prepared.columns
    return extra


def _prepared(src: Shards, n: int, tmp: Path) -> tuple[pl.DataFrame, Lineage]:
    """Shard ``n`` as ``prepare`` left it (the stored columns put back) and its lineage, the stored
    columns counted as the shard's own (not the base's) for ``pipeline.thin``."""
    df, at = src.read(n), lineage(src, n)
    path = tmp / shard_name(n, "prep")
    if not path.exists():
        return df, at
    extra = pl.read_parquet(path)
    own = at.own | frozenset(extra.columns)
    if set(df.columns) <= set(extra.columns):
        return extra, Lineage(at.base, at.pos, own)
    return df.with_columns(extra.get_columns()), Lineage(at.base, at.pos, own)


def _save(df: pl.DataFrame, path: Path) -> None:
    """A scratch frame through a temp file and a rename (not into ``pipeline.memo``: it is read once)."""
    part = path.with_name(path.name + ".part")
    df.write_parquet(part, **CHECKPOINT)
    os.replace(part, path)


def _save_plan(plan: Any, path: Path) -> None:
    part = path.with_name(path.name + ".part")
    part.write_bytes(pickle.dumps(plan))
    os.replace(part, path)


def _load(path: Path) -> Any:
    return pickle.loads(path.read_bytes()) if path.exists() else None
