"""Sequencing and the ledger: run a recipe's stages in order, reuse finished ones, check every count.

Each stage's output is keyed by a fingerprint of its input (the previous fingerprint) and its own
config, so re-running an unchanged recipe reuses finished stages and a killed run resumes at the
first unfinished one. After every stage the runner checks
``rows_in + added == kept + removed + side`` and stops with a StageError if it does not hold.
The executor (``pipeline.executors``) decides how a stage meets its table; this module only
decides which stages run and records what they did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import StageError
from curate.pipeline import registry
from curate.pipeline.executors.base import Executor
from curate.pipeline.executors.embedded import run_embedded
from curate.pipeline.executors.planned import run_planned
from curate.pipeline.executors.segment import Step, Totals, apply_removal, run_segment
from curate.pipeline.fingerprint import fingerprint
from curate.pipeline.progress import CompileClock, Mode, compile_clock
from curate.pipeline.progress import status as show_status
from curate.pipeline.rundir import RunDir
from curate.pipeline.shards import Shards
from curate.pipeline.stage import (
    ScoreOnly,
    StageContext,
    StageResult,
    caches_scores,
    embeds,
    plans,
    score_part,
    with_scores,
)
from curate.version import __version__

log = logging.getLogger(__name__)


@dataclass
class StageRecord:
    """What one stage did: the numbers that go into the manifest."""

    index: int
    name: str
    rows_in: int
    kept: int
    removed: int
    added: int = 0
    side: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    compile_s: float = 0.0  # numba's one-time JIT compiles inside ``seconds`` (0 once cached)
    reused: bool = False
    fingerprint: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def reason_counts(removed: pl.DataFrame | None) -> dict[str, int]:
    """Removed rows per reason, most frequent first."""
    if removed is None or removed.height == 0 or "reason" not in removed.columns:
        return {}
    vc = removed.group_by("reason").len().sort("len", descending=True)
    return {str(r): int(n) for r, n in vc.iter_rows()}


def check_ledger(name: str, rows_in: int, res: StageResult) -> None:
    """Every input row is kept, removed or in a side output (plus the rows the stage added)."""
    out = res.kept.height + res.n_removed + sum(v.height for v in res.side.values())
    if rows_in + res.added != out:
        raise StageError(
            f"ledger does not balance: {rows_in} in + {res.added} added != {res.kept.height} kept + "
            f"{res.n_removed} removed + {out - res.kept.height - res.n_removed} side",
            stage=name,
            hint="a stage must return every input row as kept, removed or side output",
        )


@contextmanager
def status(what: str, how: Mode) -> Iterator[CompileClock]:
    """Progress while a stage runs (``pipeline.progress``: a bar on a terminal, a heartbeat line
    otherwise, nothing for the API) and the time numba spent compiling inside it."""
    with show_status(what, how), compile_clock() as clock:
        yield clock


def run_stages(
    specs: Sequence[Any],
    table: pl.DataFrame | Path,
    fp: str,
    *,
    rd: RunDir,
    ctx: StageContext,
    executor: Executor,
    seed: int,
    records: list[StageRecord],
    force: bool = False,
    progress: bool | Mode = False,
) -> tuple[pl.DataFrame | Shards, dict[str, pl.DataFrame]]:
    """Run ``specs`` (recipe stage specs) on ``table``: a frame, or the finished stage dir holding it.

    With a streaming executor (``LocalExecutor``) and a table on disk, consecutive row stages run
    fused shard by shard, global stages with a ``decide`` read only narrow columns
    (``executors.segment``), those with a ``plan`` decide from narrow columns and carry it out
    shard by shard (``executors.planned``) and the embedding stages embed shard by shard into a
    file, then do the same (``executors.embedded``); the result is then the last stage's ``Shards``. Other
    global stages (and other executors) get the whole table in memory. A reused stage's kept rows
    are read only when a later stage must run, so resuming reads one checkpoint, not one per
    finished stage.
    Appends one record per stage.
    """
    side: dict[str, pl.DataFrame] = {}
    how: Mode = progress if isinstance(progress, str) else ("bar" if progress else "off")
    streams = bool(getattr(executor, "streams", False))
    given_frame = isinstance(table, pl.DataFrame)
    i = 1
    while i <= len(specs):
        spec = specs[i - 1]
        cls = registry.get(spec.name)
        cfg = spec.config  # built once when the recipe was parsed
        fp_in = fp
        fp = _fp(fp, spec, seed)
        sdir = rd.stage_dir(i, spec.name)
        done = None if force else RunDir.done(sdir)
        if done and done.get("fingerprint") == fp:
            table = sdir
            side.update(RunDir.read_side(sdir))
            done.update(reused=True)
            keep = StageRecord.__dataclass_fields__
            records.append(StageRecord(**{k: v for k, v in done.items() if k in keep}))
            log.info("stage %s: reused (%d kept)", spec.name, done["kept"])
            i += 1
            continue
        if streams and isinstance(table, Path):
            rd.clear_from(i)
            if cls.scope == "row":
                seg = [(i, spec, fp_in, fp)]
                while (
                    i + len(seg) <= len(specs) and registry.get(specs[i + len(seg) - 1].name).scope == "row"
                ):
                    nxt = specs[i + len(seg) - 1]
                    seg.append((i + len(seg), nxt, seg[-1][3], _fp(seg[-1][3], nxt, seed)))
                table = _segment(
                    seg,
                    Shards.of(table),
                    rd=rd,
                    ctx=ctx,
                    executor=executor,
                    seed=seed,
                    records=records,
                    side=side,
                    force=force,
                    how=how,
                )
                fp = seg[-1][3]
                i += len(seg)
                continue
            stage = cls(cfg, ctx=ctx)
            if callable(getattr(stage, "decide", None)) or plans(stage) or embeds(stage):
                src = Shards.of(table)
                table = _decided(stage, i, fp, src, rd=rd, records=records, side=side, force=force, how=how)
                i += 1
                continue
        if isinstance(table, Path):
            table = RunDir.read_kept(table)
        rd.clear_from(i)
        stage = cls(cfg, ctx=ctx)
        t0 = time.perf_counter()
        with status(f"{spec.name} on {table.height:,} rows", how) as clock:
            try:
                res = _apply(stage, table, executor, rd=rd, index=i, fp_in=fp_in, seed=seed, force=force)
            except StageError:
                raise
            except Exception as e:  # a bug or bad data inside a stage: name the stage
                raise StageError(
                    f"{type(e).__name__}: {e}", stage=spec.name, hint="re-run with --debug for the traceback"
                ) from e
        check_ledger(spec.name, table.height, res)
        rec = StageRecord(
            i,
            spec.name,
            table.height,
            res.kept.height,
            res.n_removed,
            added=res.added,
            side={k: v.height for k, v in res.side.items()},
            reasons=reason_counts(res.removed),
            seconds=round(time.perf_counter() - t0, 3),
            compile_s=round(clock.seconds, 3),
            fingerprint=fp,
            stats=res.stats,
            warnings=res.all_warnings(),
        )
        RunDir.write_stage(sdir, kept=res.kept, removed=res.removed, side=res.side, record=rec.__dict__)
        records.append(rec)
        side.update(res.side)
        table = sdir if streams else res.kept  # streamed: the next stage reads shards, this frame goes
        del res
        log.info("stage %s: kept %d, removed %d (%.2fs)", spec.name, rec.kept, rec.removed, rec.seconds)
        i += 1
    rd.end()
    if isinstance(table, Path):  # a frame in, a frame out (the API's callers); a run dir in, shards out
        return (Shards.of(table) if streams and not given_frame else RunDir.read_kept(table)), side
    return table, side


def _fp(fp: str, spec: Any, seed: int) -> str:
    return fingerprint(fp, spec.name, spec.config.model_dump(mode="json"), seed, __version__)


def _record(index: int, name: str, fp: str, t: Totals, seconds: float, compile_s: float) -> StageRecord:
    if t.rows_in + t.added != t.kept + t.removed + sum(t.side.values()):
        raise StageError(
            f"ledger does not balance: {t.rows_in} in + {t.added} added != {t.kept} kept + "
            f"{t.removed} removed + {sum(t.side.values())} side",
            stage=name,
            hint="a stage must return every input row as kept, removed or side output",
        )
    return StageRecord(
        index,
        name,
        t.rows_in,
        t.kept,
        t.removed,
        added=t.added,
        side=t.side,
        reasons=t.reasons,
        seconds=round(seconds, 3),
        compile_s=round(compile_s, 3),
        fingerprint=fp,
        stats=t.stats,
        warnings=t.warnings,
    )


def _segment(
    seg: list[tuple[int, Any, str, str]],
    src: Shards,
    *,
    rd: RunDir,
    ctx: StageContext,
    executor: Any,
    seed: int,
    records: list[StageRecord],
    side: dict[str, pl.DataFrame],
    force: bool,
    how: Mode,
) -> Path:
    """Consecutive row stages streamed over ``src``'s shards (``executors.segment``; in a pool of
    ``ctx.workers`` processes when more than one shard is left and the recipe set ``workers`` or a
    stage is ``gil_bound``, ``executors.pool``); their last dir."""
    steps = []
    for index, spec, fp_in, fp in seg:
        stage = registry.get(spec.name)(spec.config, ctx=ctx)
        sdir = rd.stage_dir(index, spec.name)
        scores = None
        if caches_scores(stage):
            knobs = stage.cfg.model_dump(mode="json", exclude=set(stage.thresholds))
            sfp = fingerprint(fp_in, stage.name, knobs, repr(stage.score_key()), seed, __version__)
            scores = rd.scores_dir(index, stage.name, sfp)
        steps.append(Step(stage, sdir, RunDir.open_stage(sdir, fp, fresh=force), scores))
    names = " + ".join(s.stage.name for s in steps)
    with status(f"{names} on {src.height:,} rows ({len(src)} shards)", how) as clock:
        pooled = ctx.pool_always or any(s.stage.gil_bound for s in steps)
        workers = ctx.workers if pooled else 1
        totals = run_segment(steps, src, executor.apply_raw, force=force, workers=workers, ctx=ctx)
    for k, (step, t) in enumerate(zip(steps, totals, strict=True)):
        index, spec, _, fp = seg[k]
        compile_s = clock.seconds + step.compile_s if k == 0 else 0.0
        rec = _record(index, spec.name, fp, t, step.seconds, compile_s)
        RunDir.close_stage(step.sdir, rec.__dict__)
        records.append(rec)
        side.update(RunDir.read_side(step.sdir))
        log.info("stage %s: kept %d, removed %d (%.2fs)", spec.name, rec.kept, rec.removed, rec.seconds)
    return steps[-1].sdir


def _decided(
    stage: Any,
    index: int,
    fp: str,
    src: Shards,
    *,
    rd: RunDir,
    records: list[StageRecord],
    side: dict[str, pl.DataFrame],
    force: bool,
    how: Mode,
) -> Path:
    """A global stage that decides from narrow columns, applied per shard: a removal
    (``GlobalStage.decide``), a plan (``executors.planned``) or a decision from embeddings made
    shard by shard (``executors.embedded``); the last two resume at their first unfinished shard."""
    sdir = rd.stage_dir(index, stage.name)
    t0 = time.perf_counter()
    decides = callable(getattr(stage, "decide", None))
    with status(f"{stage.name} on {src.height:,} rows ({len(src)} shards)", how) as clock:
        try:
            step = Step(stage, sdir, RunDir.open_stage(sdir, fp, fresh=force or decides))
            if decides:
                t = apply_removal(step, src, stage.decide(src))
            else:
                t = run_embedded(step, src) if embeds(stage) else run_planned(step, src)
        except StageError:
            raise
        except Exception as e:
            raise StageError(
                f"{type(e).__name__}: {e}", stage=stage.name, hint="re-run with --debug for the traceback"
            ) from e
    rec = _record(index, stage.name, fp, t, time.perf_counter() - t0, clock.seconds)
    RunDir.close_stage(sdir, rec.__dict__)
    records.append(rec)
    side.update(RunDir.read_side(sdir))
    log.info("stage %s: kept %d, removed %d (%.2fs)", stage.name, rec.kept, rec.removed, rec.seconds)
    return sdir


def _apply(
    stage: Any,
    table: pl.DataFrame,
    executor: Executor,
    *,
    rd: RunDir,
    index: int,
    fp_in: str,
    seed: int,
    force: bool,
) -> StageResult:
    """The stage's result; a threshold-declaring row stage reuses its scored table when only
    thresholds changed (the scoring fingerprint leaves them out), and then only re-splits."""
    if not caches_scores(stage):
        return executor.apply(stage, table)
    knobs = stage.cfg.model_dump(mode="json", exclude=set(stage.thresholds))
    sfp = fingerprint(fp_in, stage.name, knobs, repr(stage.score_key()), seed, __version__)
    path = rd.scores_path(index, stage.name, sfp)
    if path.exists() and not force:
        scored = with_scores(table, pl.read_parquet(path))
        log.info("stage %s: scores reused, thresholds re-applied", stage.name)
        res = stage.split(scored)
        res.stats = {"scores_reused": True}
        return res
    scored = executor.apply(ScoreOnly(stage), table).kept
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"{index:02d}-{stage.name}-*.parquet"):
        old.unlink()
    RunDir.write_parquet(score_part(table, scored), path)  # temp + rename: never half a file
    return stage.split(scored)
