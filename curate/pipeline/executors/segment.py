"""Streamed stages: consecutive row stages fused over a run's shards, and global stages that decide
from narrow columns applied shard by shard (issue 16: bounded memory, resume at shard granularity).

A *segment* is a run of consecutive row stages. Each input shard is read once and passed through
every stage of the segment in memory; each stage's kept and removed rows for that shard are written
into its ``NN-<stage>.tmp`` dir as they come, then a ``part-NNNNN.pkl`` marker with the shard's
counts, reasons, typed stats and warnings. A killed run that is started again with the same recipe
finds those markers (``RunDir.open_stage`` keeps a ``.tmp`` of the same fingerprint) and starts at
the first shard some stage of the segment did not finish. When every shard is done the per-shard
removed files become one ``removed.parquet``, the parts one ledger record, and the dir is renamed
into place: the stage directory looks exactly as one written whole.

Memory: one input shard plus each stage's scratch for it (and the threshold stages' scored copy).
Row order and every value equal the whole-table run's, since row stages are batch-invariant.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import StageError
from curate.pipeline.shards import CHECKPOINT, THIN, Shards, shard_name, write_shard
from curate.pipeline.stage import (
    Removal,
    ScoreOnly,
    Stage,
    StageContext,
    StageResult,
    caches_scores,
    score_part,
    with_scores,
)
from curate.pipeline.stats import merge_stats, plain
from curate.pipeline.thin import Lineage, lineage, thin_of, write_thin

log = logging.getLogger(__name__)


@dataclass
class Step:
    """One stage of a segment: the stage, where it goes, and its ``.tmp`` dir (set when opened)."""

    stage: Stage
    sdir: Path
    tmp: Path
    scores: Path | None = None  # scored shards of a threshold stage (``RunDir.scores_dir``)
    seconds: float = 0.0  # summed over shards (over the pool's workers: CPU-side, not wall)
    compile_s: float = 0.0  # numba compiles inside the pool's workers (the serial loop's: the runner's clock)


@dataclass
class Totals:
    """A streamed stage's ledger, summed over its shards."""

    rows_in: int = 0
    kept: int = 0
    removed: int = 0
    added: int = 0
    side: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _reasons(removed: pl.DataFrame | None) -> dict[str, int]:
    if removed is None or removed.height == 0 or "reason" not in removed.columns:
        return {}
    vc = removed.group_by("reason", maintain_order=True).len()
    return {str(r): int(n) for r, n in vc.iter_rows()}


def _write_part(
    tmp: Path,
    n: int,
    res: StageResult,
    rows_in: int,
    src: pl.DataFrame | None = None,
    at: Lineage | None = None,
    order: list[str] | None = None,
) -> Lineage | None:
    """Shard ``n`` of one stage: kept (thin over ``at``'s base when ``res.kept_rows`` allows it,
    ``pipeline.thin``), removed, side files, then the marker that says it is whole. Returns the
    kept rows' lineage (None: they were written whole, and this stage is the next base).
    With ``order`` (reasons), removed rows go to one file per reason rank (``removed_files``), so
    ``_close`` can merge the ledger reason by reason, as ``Plan.finish`` orders it."""
    thin = None if src is None or at is None else thin_of(res.kept, src, res.kept_rows, at)
    if thin is None:
        write_shard(res.kept, tmp / shard_name(n))
    else:
        write_thin(thin[0], res.kept.columns, at.base, tmp / shard_name(n, THIN))
    if res.removed is not None and res.removed.height and order:
        rank = {r: i for i, r in enumerate(order)}
        key = pl.col("reason").replace_strict(rank, default=len(rank), return_dtype=pl.Int64).alias("__rank")
        for (k,), part in res.removed.with_columns(key).partition_by("__rank", as_dict=True).items():
            write_shard(part.drop("__rank"), tmp / shard_name(n, removed_files(order)[int(k)]))
    elif res.removed is not None and res.removed.height:
        write_shard(res.removed, tmp / shard_name(n, "removed"))
    for k, v in res.side.items():
        write_shard(v, tmp / shard_name(n, f"side_{k}"))
    part = {
        "rows_in": rows_in,
        "kept": res.kept.height,
        "removed": res.n_removed,
        "added": res.added,
        "side": {k: v.height for k, v in res.side.items()},
        "reasons": _reasons(res.removed),
        "stats": res.stats,
        "warnings": res.all_warnings(),
    }
    mark = tmp / f"part-{n:05d}.pkl"
    (tmp / f"part-{n:05d}.pkl.part").write_bytes(pickle.dumps(part))
    (tmp / f"part-{n:05d}.pkl.part").replace(mark)
    return None if thin is None else thin[1]


def removed_files(order: list[str] | None) -> list[str]:
    """The prefixes of a stage's per-shard removed files: one, or one per rank of ``order``."""
    return [f"removed{k:02d}" for k in range(len(order) + 1)] if order else ["removed"]


def _done(tmp: Path, n: int) -> bool:
    return (tmp / f"part-{n:05d}.pkl").exists()


def _apply_one(
    step: Step,
    df: pl.DataFrame,
    n: int,
    apply: Callable[[Stage, pl.DataFrame], StageResult],
    force: bool,
    later: Callable[[Callable[[], object]], object] = lambda write: write(),
) -> StageResult:
    """The stage on one shard; a threshold stage reuses (or writes, through ``later``) its scored shard."""
    stage = step.stage
    if step.scores is None or not caches_scores(stage):
        return apply(stage, df)
    path = step.scores / f"part-{n:05d}.parquet"
    if path.exists() and not force:
        res = stage.split(with_scores(df, pl.read_parquet(path)))  # type: ignore[attr-defined]
        res.stats = {"scores_reused": True}
        return res
    scored = apply(ScoreOnly(stage), df).kept  # type: ignore[arg-type]
    later(lambda: write_shard(score_part(df, scored), path))
    return stage.split(scored)  # type: ignore[attr-defined]


def run_shard(
    steps: list[Step],
    shards: Shards,
    n: int,
    apply: Callable[[Stage, pl.DataFrame], StageResult],
    force: bool,
) -> list[float]:
    """Shard ``n`` of ``shards`` through every step; the seconds each step's stage took. The serial
    loop and every pool worker (``executors.pool``) run this.

    Each step's files (score cache, kept, removed, the part marker) are written by one writer
    thread, in the order the steps finish, while the next step computes: the thin check and the
    Parquet encoding release the GIL, so on two cores they cost no wall time (issue 13). A step's
    marker still follows its files, so a killed run resumes as before; after a failed write no later
    step's files are written, and every write has finished (or raised) when this returns."""
    df = shards.read(n)
    at = [lineage(shards, n)]  # the lineage of the last step written: only the writer thread moves it

    def write(s: Step, res: StageResult, rows_in: int, src: pl.DataFrame) -> None:
        at[0] = _write_part(s.tmp, n, res, rows_in, src, at[0]) or Lineage(s.sdir.name)

    seconds = []
    with ThreadPoolExecutor(1, thread_name_prefix="curate-shard-writer") as writer:
        pending: list[Future[Any]] = []

        failed: list[BaseException] = []

        def guarded(job: Callable[[], object]) -> None:
            if failed:  # a later step's files must not follow a failed write: its lineage is lost
                return
            try:
                job()
            except BaseException as e:
                failed.append(e)
                raise

        def later(job: Callable[[], object]) -> None:
            pending.append(writer.submit(guarded, job))

        for s in steps:  # on a raise, leaving the block still waits for the writes queued
            if failed:
                break
            t0 = time.perf_counter()
            rows_in = df.height
            try:
                res = _apply_one(s, df, n, apply, force, later)
            except StageError:
                raise
            except Exception as e:  # a bug or bad data inside a stage: name the stage and the shard
                raise StageError(
                    f"{type(e).__name__}: {e}",
                    stage=s.stage.name,
                    origin=f"shard {n} ({shards.paths[n].name})",
                    hint="re-run with --debug for the traceback",
                ) from e
            later(lambda s=s, res=res, rows_in=rows_in, src=df: write(s, res, rows_in, src))
            seconds.append(time.perf_counter() - t0)
            df = res.kept
        for f in pending:  # in order: the first failed write raises
            f.result()
    return seconds


def run_segment(
    steps: list[Step],
    shards: Shards,
    apply: Callable[[Stage, pl.DataFrame], StageResult],
    *,
    force: bool = False,
    tick: Callable[[int], None] | None = None,
    workers: int = 1,
    ctx: StageContext | None = None,
) -> list[Totals]:
    """Stream ``shards`` through ``steps`` (see the module docstring); the stages' ledgers.

    With ``workers > 1`` and more than one shard to run, the shards go to a pool of worker
    processes (``executors.pool``: each builds the stages from ``ctx`` once and writes its shards'
    files itself); the files, and so every ledger, are the ones the serial loop writes."""
    todo = [n for n in range(len(shards)) if not all(_done(s.tmp, n) for s in steps)]
    if len(todo) < len(shards):
        log.info(
            "%s: %d of %d shards finished by an earlier run; resuming",
            " + ".join(s.stage.name for s in steps),
            len(shards) - len(todo),
            len(shards),
        )
    from curate.pipeline.executors import pool

    pooled = pool.ENABLED and workers > 1 and len(todo) > 1
    if pooled and pool.run_pool(steps, shards, todo, apply, workers=workers, ctx=ctx, force=force, tick=tick):
        return [_close(s, len(shards)) for s in steps]
    for n in todo:
        for s, sec in zip(steps, run_shard(steps, shards, n, apply, force), strict=True):
            s.seconds += sec
        if tick is not None:
            tick(n)
    return [_close(s, len(shards)) for s in steps]


def _close(step: Step, count: int, order: list[str] | None = None) -> Totals:
    """Sum the parts of one stage, merge its removed (reason by reason, with ``order``) and side
    files; the marker comes later."""
    t = Totals()
    for n in range(count):
        mark = step.tmp / f"part-{n:05d}.pkl"
        p = pickle.loads(mark.read_bytes())
        t.rows_in += p["rows_in"]
        t.kept += p["kept"]
        t.removed += p["removed"]
        t.added += p["added"]
        for k, v in p["side"].items():
            t.side[k] = t.side.get(k, 0) + v
        for k, v in p["reasons"].items():
            t.reasons[k] = t.reasons.get(k, 0) + v
        merge_stats(t.stats, p["stats"], stage=step.stage.name)
        t.warnings += [w for w in p["warnings"] if w not in t.warnings]
    t.stats = plain(t.stats)
    t.reasons = dict(sorted(t.reasons.items(), key=lambda kv: -kv[1]))
    concat_parts(step.tmp, removed_files(order), step.tmp / "removed.parquet")
    for k in t.side:
        concat_parts(step.tmp, f"side_{k}", step.tmp / f"side-{k}.parquet")
    for n in range(count):
        (step.tmp / f"part-{n:05d}.pkl").unlink()
    return t


def concat_parts(tmp: Path, prefix: str | list[str], out: Path) -> None:
    """The ``prefix-NNNNN.parquet`` files of ``tmp`` (of each prefix in turn) as one file, one
    part in memory at a time (then deleted); no file when there are none."""
    prefixes = [prefix] if isinstance(prefix, str) else prefix
    paths = [p for pre in prefixes for p in Shards.of(tmp, pre).paths]
    if not paths:
        return
    schema = pl.concat([pl.read_parquet(p, n_rows=0) for p in paths], how="diagonal_relaxed").schema
    cast = pl.DataFrame(schema=schema)
    part = out.with_name(out.name + ".part")
    writer = None
    try:
        for p in paths:
            df = pl.concat([cast, pl.read_parquet(p)], how="diagonal_relaxed").to_arrow()
            if writer is None:
                import pyarrow.parquet as pq  # here, not at import: it pulls pyarrow.fs and ssl (~0.2 s)

                writer = pq.ParquetWriter(part, df.schema, compression="zstd", compression_level=1)
            writer.write_table(df)
    finally:
        if writer is not None:
            writer.close()
    part.replace(out)
    for p in paths:
        p.unlink()


def apply_removal(
    step: Step, shards: Shards, rm: Removal, *, tick: Callable[[int], None] | None = None
) -> Totals:
    """Split every shard by ``rm`` into kept and removed files (``Removal.split``, as the whole
    table would split)."""
    offs = shards.offsets()
    for n in range(len(shards)):
        df = shards.read(n)
        res = rm.split(df, stage=step.stage.name, offset=offs[n], first=n == 0)
        _write_part(step.tmp, n, res, df.height, df, lineage(shards, n))
        if tick is not None:
            tick(n)
    return _close(step, len(shards))


__all__ = [
    "CHECKPOINT",
    "Removal",
    "Step",
    "Totals",
    "apply_removal",
    "concat_parts",
    "run_segment",
    "run_shard",
]
