"""The local runner: sources -> stages -> output (-> train), with a ledger that must balance.

Each stage's output is keyed by a fingerprint of its input (the previous fingerprint) and its own
config, so re-running an unchanged recipe reuses finished stages and a killed run resumes at the
first unfinished one. After every stage the runner checks
``rows_in + added == kept + removed + side`` and stops with a StageError if it does not hold.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import xxhash

from curate import __version__
from curate.errors import StageError
from curate.pipeline import registry
from curate.pipeline.rundir import RunDir
from curate.pipeline.stage import Stage, StageContext, StageResult, available_cpus
from curate.recipe import Recipe
from curate.schema import REJECT_SCHEMA, conform, dumps, empty

log = logging.getLogger(__name__)
BATCH_ROWS = 100_000


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
    reused: bool = False
    fingerprint: str = ""
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """The outcome of ``run``: where things are and what happened."""

    run_dir: RunDir
    manifest: dict[str, Any]
    output: pl.DataFrame
    side: dict[str, pl.DataFrame]

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.manifest["stages"]

    def removed(self) -> pl.DataFrame:
        return self.run_dir.removed()

    def rejects(self) -> pl.DataFrame:
        p = self.run_dir.rejects
        return pl.read_parquet(p) if p.exists() else pl.DataFrame(schema=REJECT_SCHEMA)


def _fp(*parts: Any) -> str:
    return xxhash.xxh3_64_hexdigest(dumps(parts).encode())


def _files_fingerprint(files: list[str]) -> list[tuple[str, str]]:
    """Content hashes (xxh3 streams at GB/s), so touching or re-copying a file does not re-run."""
    out = []
    for f in files:
        h = xxhash.xxh3_64()
        try:
            with open(f, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    h.update(chunk)
        except OSError:
            out.append((f, "missing"))
            continue
        out.append((f, h.hexdigest()))
    return out


def _source_files(path: str | list[str], base: Path) -> list[str]:
    """Files a source names (for change detection only; the reader does its own expansion)."""
    out: list[str] = []
    for pat in [path] if isinstance(path, str) else path:
        p = Path(pat).expanduser()
        p = p if p.is_absolute() else base / p
        if p.is_dir():
            out += sorted(str(f) for f in p.rglob("*") if f.is_file())
        elif any(ch in str(p) for ch in "*?["):
            out += sorted(str(f) for f in Path(p.anchor).glob(str(p.relative_to(p.anchor))) if f.is_file())
        else:
            out.append(str(p))
    return out


def _add_stats(total: dict[str, Any], part: dict[str, Any]) -> None:
    """Sum a row stage's per-batch stats (counts add; anything else keeps the last batch's value)."""
    for k, v in part.items():
        if (
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and isinstance(total.get(k, 0), (int, float))
        ):
            total[k] = total.get(k, 0) + v
        elif isinstance(v, dict):
            _add_stats(total.setdefault(k, {}), v)
        else:
            total[k] = v


def _reason_counts(removed: pl.DataFrame | None) -> dict[str, int]:
    if removed is None or removed.height == 0 or "reason" not in removed.columns:
        return {}
    vc = removed.group_by("reason").len().sort("len", descending=True)
    return {str(r): int(n) for r, n in vc.iter_rows()}


class Runner:
    """Runs one recipe into one run directory. Use ``curate.run`` rather than this directly."""

    def __init__(
        self, recipe: Recipe, *, out: Path | None = None, force: bool = False, progress: bool | None = None
    ):
        self.recipe = recipe
        self.rd = RunDir(out or Path("runs") / recipe.name).create()
        self.force = force
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.records: list[StageRecord] = []
        self.sources: list[dict[str, Any]] = []
        self.n_rejects = 0

    # --- reading ------------------------------------------------------------------------------
    def read(self) -> tuple[pl.DataFrame | Path, str]:
        """Read every source into one canonical table (stage 00). A finished read is reused: its
        stage dir is returned instead, read by ``run_stages`` only if a stage has to run."""
        from curate.formats import read_source

        base = self.recipe.base_dir
        files = {s.name: _source_files(s.path, base) for s in self.recipe.sources}
        fp = _fp(
            "read",
            __version__,
            [s.model_dump() for s in self.recipe.sources],
            {k: _files_fingerprint(v) for k, v in files.items()},
            self.recipe.on_error,
        )
        sdir = self.rd.stage_dir(0, "read")
        done = None if self.force else RunDir.done(sdir)
        t0 = time.perf_counter()
        if done and done.get("fingerprint") == fp:
            self.sources = done["stats"]["sources"]
            self.n_rejects = done["stats"]["rejects"]
            self.records.append(
                StageRecord(
                    0,
                    "read",
                    done["rows_in"],
                    done["kept"],
                    done["removed"],
                    reused=True,
                    fingerprint=fp,
                    stats=done["stats"],
                    reasons=done.get("reasons", {}),
                )
            )
            return sdir, fp
        tables, rejects = [], []
        for spec in self.recipe.sources:
            res = read_source(spec, base_dir=base, on_error=self.recipe.on_error)
            tables.append(conform(res.table))
            rejects.append(res.rejects)
            self.sources.append(
                {
                    "name": spec.name,
                    "format": res.format,
                    "files": [str(f) for f in res.files],
                    "rows": res.table.height,
                    "rejects": res.rejects.height,
                    "domain": spec.domain,
                    "task": spec.task,
                    "license": spec.license,
                    "terms": spec.terms,
                }
            )
            log.info(
                "source %s: %d rows as %s, %d rejected",
                spec.name,
                res.table.height,
                res.format,
                res.rejects.height,
            )
        table = pl.concat(tables, how="diagonal_relaxed") if tables else empty()
        rej = pl.concat(rejects, how="diagonal_relaxed") if rejects else pl.DataFrame(schema=REJECT_SCHEMA)
        rej.write_parquet(self.rd.rejects)
        self.n_rejects = rej.height
        reasons = {}
        if rej.height:
            kinds = rej.select(pl.col("error").str.extract(r"^([a-z_0-9]+)", 1).fill_null("error"))
            reasons = {str(k): int(n) for k, n in kinds.to_series().value_counts().iter_rows()}
        stats = {"sources": self.sources, "rejects": rej.height}
        rec = StageRecord(
            0,
            "read",
            table.height + rej.height,
            table.height,
            rej.height,
            seconds=time.perf_counter() - t0,
            fingerprint=fp,
            stats=stats,
            reasons=reasons,
        )
        RunDir.write_stage(sdir, kept=table, removed=None, side={}, record=rec.__dict__)
        self.records.append(rec)
        return table, fp

    # --- stages -------------------------------------------------------------------------------
    def _context(self) -> StageContext:
        from curate.models import ModelHub, cache_root

        model = (self.recipe.train or {}).get("model", "smollm2-135m")
        return StageContext(
            seed=self.recipe.seed,
            models=ModelHub(),
            cache_dir=cache_root() / "scores",
            train_model=model,
            workers=self.recipe.workers or available_cpus(),
        )

    def _apply(self, stage: Stage, df: pl.DataFrame) -> StageResult:
        if stage.scope == "global" or df.height <= BATCH_ROWS:
            return stage.apply(df)
        kept, removed, stats = [], [], {}
        for start in range(0, df.height, BATCH_ROWS):
            r = stage.apply(df.slice(start, BATCH_ROWS))
            kept.append(r.kept)
            if r.removed is not None:
                removed.append(r.removed)
            _add_stats(stats, r.stats)
        return StageResult(
            kept=pl.concat(kept, how="diagonal_relaxed"),
            removed=pl.concat(removed, how="diagonal_relaxed") if removed else None,
            stats=stats,
        )

    def run_stages(self, table: pl.DataFrame | Path, fp: str) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
        """Run the recipe's stages on ``table``: a frame, or the finished stage dir that holds it.

        A reused stage's kept rows are read only when a later stage must run (or at the end), so
        resuming reads one checkpoint, not one per finished stage.
        """
        ctx = self._context()
        side: dict[str, pl.DataFrame] = {}
        for i, spec in enumerate(self.recipe.stages, start=1):
            cls = registry.get(spec.name)
            cfg = cls.Config(**spec.params)
            fp = _fp(fp, spec.name, cfg.model_dump(mode="json"), self.recipe.seed, __version__)
            sdir = self.rd.stage_dir(i, spec.name)
            done = None if self.force else RunDir.done(sdir)
            if done and done.get("fingerprint") == fp:
                table = sdir
                side.update(RunDir.read_side(sdir))
                done.update(reused=True)
                self.records.append(
                    StageRecord(**{k: v for k, v in done.items() if k in StageRecord.__dataclass_fields__})
                )
                log.info("stage %s: reused (%d kept)", spec.name, done["kept"])
                continue
            if isinstance(table, Path):
                table = RunDir.read_kept(table)
            self.rd.clear_from(i)
            stage = cls(cfg, ctx=ctx)
            t0 = time.perf_counter()
            with self._status(f"{spec.name} on {table.height:,} rows"):
                try:
                    res = self._apply(stage, table)
                except StageError:
                    raise
                except Exception as e:  # a bug or bad data inside a stage: name the stage
                    raise StageError(
                        f"{type(e).__name__}: {e}",
                        stage=spec.name,
                        hint="re-run with --debug for the traceback",
                    ) from e
            self._check_ledger(spec.name, table.height, res)
            rec = StageRecord(
                i,
                spec.name,
                table.height,
                res.kept.height,
                res.n_removed,
                added=res.added,
                side={k: v.height for k, v in res.side.items()},
                reasons=_reason_counts(res.removed),
                seconds=round(time.perf_counter() - t0, 3),
                fingerprint=fp,
                stats=res.stats,
            )
            RunDir.write_stage(sdir, kept=res.kept, removed=res.removed, side=res.side, record=rec.__dict__)
            self.records.append(rec)
            side.update(res.side)
            table = res.kept
            log.info("stage %s: kept %d, removed %d (%.2fs)", spec.name, rec.kept, rec.removed, rec.seconds)
        return (RunDir.read_kept(table) if isinstance(table, Path) else table), side

    @staticmethod
    def _check_ledger(name: str, rows_in: int, res: StageResult) -> None:
        out = res.kept.height + res.n_removed + sum(v.height for v in res.side.values())
        if rows_in + res.added != out:
            raise StageError(
                f"ledger does not balance: {rows_in} in + {res.added} added != {res.kept.height} kept + "
                f"{res.n_removed} removed + {out - res.kept.height - res.n_removed} side",
                stage=name,
                hint="a stage must return every input row as kept, removed or side output",
            )

    @contextmanager
    def _status(self, what: str) -> Iterator[None]:
        if not self.progress:
            yield
            return
        from rich.console import Console

        with Console(stderr=True).status(what):
            yield

    # --- output -------------------------------------------------------------------------------
    def write_output(self, table: pl.DataFrame, side: dict[str, pl.DataFrame]) -> dict[str, str]:
        from curate.formats import write

        self.rd.output.mkdir(exist_ok=True)
        ext = self.recipe.output.file_format
        paths = {}
        for fmt in self.recipe.output.formats:
            p = write(table, self.rd.output / f"train.{fmt}.{ext}", fmt=fmt, file_format=ext)
            paths[fmt] = str(p)
            for name, df in side.items():
                sp = write(df, self.rd.output / f"{name}.{fmt}.{ext}", fmt=fmt, file_format=ext)
                paths[f"{name}:{fmt}"] = str(sp)
        table.write_parquet(self.rd.output / "train.canonical.parquet")
        for name, df in side.items():
            df.write_parquet(self.rd.output / f"{name}.canonical.parquet")
        if side.get("eval") is not None and side["eval"].height:
            from curate.formats.evalset import write_eval_files

            written = write_eval_files(side["eval"], self.rd.root / "eval", pool=table, seed=self.recipe.seed)
            paths.update({f"eval_set:{k}": str(v) for k, v in written.items()})
        return paths

    def manifest(
        self,
        table: pl.DataFrame,
        outputs: dict[str, str],
        warnings: list[str],
        licenses: list[dict[str, Any]],
        timings: dict[str, float],
    ) -> dict[str, Any]:
        return {
            "name": self.recipe.name,
            "recipe": self.recipe.model_dump(mode="json", exclude={"path"}),
            "recipe_path": str(self.recipe.path) if self.recipe.path else None,
            "versions": _versions(),
            "seed": self.recipe.seed,
            "sources": self.sources,
            "rejects": self.n_rejects,
            "stages": [r.__dict__ for r in self.records],
            "output": {"rows": table.height, "files": outputs, "licenses": licenses},
            "warnings": warnings,
            "timings": timings,
        }


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"curate": __version__, "python": platform.python_version()}
    for pkg in ("polars", "pyarrow", "transformers", "torch", "peft"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def run(
    recipe: Recipe,
    *,
    out: Path | None = None,
    force: bool = False,
    progress: bool | None = None,
    train: bool = True,
) -> RunResult:
    """Run ``recipe`` end to end and return the result (see ``curate.run`` for the public entry)."""

    with registry.frozen():
        return _run(recipe, out=out, force=force, progress=progress, train=train)


def _run(recipe: Recipe, *, out: Path | None, force: bool, progress: bool | None, train: bool) -> RunResult:
    from curate.governance import check_licenses, license_manifest

    t_start = time.perf_counter()
    runner = Runner(recipe, out=out, force=force, progress=progress)
    table, fp = runner.read()
    t_read = time.perf_counter()
    table, side = runner.run_stages(table, fp)
    t_stages = time.perf_counter()
    counts = table.group_by("source").len().to_dict(as_series=False)
    warnings = check_licenses(recipe, dict(zip(counts["source"], counts["len"], strict=True)))
    for w in warnings:
        log.warning(w)
    outputs = runner.write_output(table, side)
    timings = {"read_s": round(t_read - t_start, 3), "stages_s": round(t_stages - t_read, 3)}
    manifest = runner.manifest(table, outputs, warnings, license_manifest(table, recipe), timings)
    runner.rd.manifest.write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    if recipe.train is not None and train:
        from curate.train import run_training
        from curate.train.config import TrainConfig

        cfg = TrainConfig(**{"seed": recipe.seed, **recipe.train})
        t0 = time.perf_counter()
        metrics = run_training(table, side.get("eval"), cfg, runner.rd.train, manifest=manifest)
        manifest["train"] = metrics
        manifest["timings"]["train_s"] = round(time.perf_counter() - t0, 3)
    manifest["timings"]["total_s"] = round(time.perf_counter() - t_start, 3)
    runner.rd.manifest.write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    from curate.report.html import write_report

    write_report(runner.rd, manifest)
    return RunResult(run_dir=runner.rd, manifest=manifest, output=table, side=side)
