"""The application: read sources -> stages -> outputs -> licenses -> train -> report.

Each step is one call; sequencing, resume and the ledger live in ``curate.pipeline.runner``, how a
stage meets its table in ``curate.pipeline.executors``, the manifest in ``pipeline.manifest``.
A run holds its directory's lock (``pipeline.lock``) throughout, deletes the old manifest first,
writes outputs under ``.partial/`` and renames them into place, and writes the manifest last: a
killed run never leaves old or half files that readers take for a finished run.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from curate.formats.sources import base_dir_of
from curate.pipeline import registry
from curate.pipeline.executors import get_executor
from curate.pipeline.fingerprint import files_fingerprint, fingerprint, source_files
from curate.pipeline.lock import RunLock
from curate.pipeline.manifest import versions, write_manifest
from curate.pipeline.memo import memo
from curate.pipeline.progress import mode as progress_mode
from curate.pipeline.progress import run_log, status
from curate.pipeline.rundir import RunDir
from curate.pipeline.runner import StageRecord, run_stages
from curate.pipeline.shards import SHARD_ROWS, Shards, ShardWriter
from curate.pipeline.stage import StageContext, available_cpus
from curate.recipe import Recipe, built
from curate.schema import ID_VERSION, REJECT_SCHEMA, empty
from curate.version import __version__

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """The outcome of ``run``: where things are and what happened. ``output`` (the final table)
    of a run larger than one shard is read from the last stage's shards when first asked for, so
    a large run does not hold it."""

    run_dir: RunDir
    manifest: dict[str, Any]
    data: pl.DataFrame | Shards
    side: dict[str, pl.DataFrame]

    @cached_property
    def output(self) -> pl.DataFrame:
        if isinstance(self.data, pl.DataFrame):
            return self.data
        return RunDir.read_kept(self.data.paths[0].parent) if self.data.paths else empty()

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.manifest["stages"]

    def removed(self) -> pl.DataFrame:
        return self.run_dir.removed()

    def rejects(self) -> pl.DataFrame:
        p = self.run_dir.rejects
        return pl.read_parquet(p) if p.exists() else pl.DataFrame(schema=REJECT_SCHEMA)


class Runner:
    """Runs one recipe into one run directory. Use ``curate.run`` rather than this directly."""

    def __init__(
        self, recipe: Recipe, *, out: Path | None = None, force: bool = False, progress: bool | None = None
    ):
        self.recipe = recipe
        self.rd = RunDir(out or Path("runs") / recipe.name).create()
        self.force = force
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.mode = progress_mode(progress)  # bar on a TTY, heartbeat lines otherwise, off for the API
        self.records: list[StageRecord] = []
        self.sources: list[dict[str, Any]] = []
        self.n_rejects = 0
        self.mcq_sets: dict[str, Any] = {}
        self.output_frame: pl.DataFrame | None = None  # the train table as written, when in memory

    # --- reading ------------------------------------------------------------------------------
    def read(self) -> tuple[Path, str]:
        """Read every source into stage 00's shards, a part (``formats.read.CHUNK_ROWS`` rows) at a
        time, and return its stage dir; a finished read is reused. Memory: one part, and the rejects."""
        from curate.formats import read_source

        base = self.recipe.base_dir
        files = {s.name: source_files(s.path, base_dir_of(s.package, base)) for s in self.recipe.sources}
        fp = fingerprint(
            "read",
            __version__,
            ID_VERSION,  # the ids the read writes: a new normalization re-reads every source
            [s.model_dump() for s in self.recipe.sources],
            {k: files_fingerprint(v) for k, v in files.items()},
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
        rejects = []
        shards = ShardWriter(RunDir.open_stage(sdir, fp, fresh=True))
        sink = shards.add

        rows = 0
        try:  # a failed read lets the shard writer's thread go too
            for spec in self.recipe.sources:
                res = read_source(spec, base_dir=base, on_error=self.recipe.on_error, root=self.recipe.root,
                                  sink=sink)
                rows += res.rows
                rejects.append(res.rejects)
                self.sources.append(
                    {
                        "name": spec.name,
                        "format": res.format,
                        "files": [str(f) for f in res.files],
                        "rows": res.rows,
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
                    res.rows,
                    res.format,
                    res.rejects.height,
                )
            shards.close(empty())
        finally:
            shards.shutdown()
        rej = pl.concat(rejects, how="diagonal_relaxed") if rejects else pl.DataFrame(schema=REJECT_SCHEMA)
        RunDir.write_parquet(rej, self.rd.rejects)
        self.n_rejects = rej.height
        reasons = {}
        if rej.height:
            kinds = rej.select(pl.col("error").str.extract(r"^([a-z_0-9]+)", 1).fill_null("error"))
            reasons = {str(k): int(n) for k, n in kinds.to_series().value_counts().iter_rows()}
        stats = {"sources": self.sources, "rejects": rej.height}
        rec = StageRecord(
            0,
            "read",
            rows + rej.height,
            rows,
            rej.height,
            seconds=time.perf_counter() - t0,
            fingerprint=fp,
            stats=stats,
            reasons=reasons,
        )
        RunDir.close_stage(sdir, rec.__dict__)
        self.records.append(rec)
        return sdir, fp

    # --- stages -------------------------------------------------------------------------------
    def estimates(self, table: pl.DataFrame | Path) -> list[dict[str, Any]]:
        """Model-backed stages' estimated cost, logged before any stage runs (``curate.lm.estimate``)."""
        specs = [(s.name, registry.get(s.name), s.params) for s in self.recipe.stages]
        if not any(hasattr(cls, "estimate_cost") for _, cls, _ in specs):
            return []
        from curate.errors import CurateError
        from curate.lm.estimate import estimate_line, run_estimates

        df = table if isinstance(table, pl.DataFrame) else RunDir.read_kept(table)
        try:
            est = run_estimates(specs, df, seed=self.recipe.seed)
        except CurateError as e:  # a model that cannot load fails its stage later, with this message
            log.warning("cost estimate unavailable: %s", e)
            return []
        for e in est:
            log.info("estimate: %s", estimate_line(e))
        return est

    def _context(self) -> StageContext:
        from curate.cache import cache_dir
        from curate.models import ModelHub
        from curate.train.pre_experience import PreExperience

        model = (self.recipe.train or {}).get("model", "smollm2-135m")
        return StageContext(
            seed=self.recipe.seed,
            models=ModelHub(trainer=PreExperience(self.rd.root / "pre_experience")),
            cache_dir=cache_dir("scores"),
            train_model=model,
            workers=self.recipe.workers or available_cpus(),
            pool_always=self.recipe.workers is not None,
        )

    def run_stages(
        self, table: pl.DataFrame | Path, fp: str
    ) -> tuple[pl.DataFrame | Shards, dict[str, pl.DataFrame]]:
        """The recipe's stages on ``table`` (see ``pipeline.runner.run_stages``)."""
        return run_stages(
            self.recipe.stages,
            table,
            fp,
            rd=self.rd,
            ctx=self._context(),
            executor=get_executor(self.recipe.executor),
            seed=self.recipe.seed,
            records=self.records,
            force=self.force,
            progress=self.mode,
        )

    # --- output -------------------------------------------------------------------------------
    def write_output(self, table: pl.DataFrame | Shards, side: dict[str, pl.DataFrame]) -> dict[str, str]:
        """Write output/ (and eval/) under ``.partial/``, then rename them into place. A sharded
        table is streamed in output order (``pipeline.order``): one shard or chunk in memory."""
        from concurrent.futures import ThreadPoolExecutor

        from curate.formats import write
        from curate.formats.write import output_order
        from curate.formats.write_stream import write_chunks, write_table_chunks
        from curate.pipeline.order import Whole, ordered

        rd = self.rd
        out, ev = rd.partial / "output", rd.partial / "eval"
        out.mkdir(parents=True)
        shuffle = self.recipe.output.shuffle
        _, side = output_order(empty(), side, shuffle, seed=self.recipe.seed)
        chunks = ordered(table, shuffle=shuffle, seed=self.recipe.seed, scratch=rd.partial / "order")
        self.output_frame = chunks.frame if isinstance(chunks, Whole) else None
        ext = self.recipe.output.file_format
        paths = {}

        def final(p: Path) -> str:  # where the file will be once published
            return str(rd.root / Path(p).relative_to(rd.partial))

        # The canonical Parquet is written by a second thread beside the user's formats (encoding
        # releases the GIL): ~0.2 s less wall on the bench corpus; memory: one more output chunk.
        with ThreadPoolExecutor(1, thread_name_prefix="curate-output") as bg:
            canonical = bg.submit(write_table_chunks, chunks, out / "train.canonical.parquet")
            for fmt in self.recipe.output.formats:
                p = write_chunks(chunks, out / f"train.{fmt}.{ext}", fmt=fmt, file_format=ext)
                paths[fmt] = final(p)
                for name, df in side.items():
                    sp = write(df, out / f"{name}.{fmt}.{ext}", fmt=fmt, file_format=ext)
                    paths[f"{name}:{fmt}"] = final(sp)
            canonical.result()
        for name, df in side.items():
            df.write_parquet(out / f"{name}.canonical.parquet")
        if side.get("eval") is not None and side["eval"].height:
            from curate.formats.evalset import write_eval_files

            # distractors come from the run's rows in stage order (not the output's shuffle), so
            # every executor draws the same items; this materializes the table
            pool = table if isinstance(table, pl.DataFrame) else table.collect()
            written = write_eval_files(side["eval"], ev, pool=pool, seed=self.recipe.seed)
            paths.update({f"eval_set:{k}": final(v) for k, v in written.items()})
        if self.recipe.eval.mcq:  # multiple-choice sets from files (e.g. LawBench's MCQ CSVs)
            from curate.formats.mcq import write_mcq_sources

            # appended to the held-out items in .partial/eval, which every run starts afresh
            self.mcq_sets = write_mcq_sources(
                self.recipe.eval.mcq, ev, recipe_dir=self.recipe.base_dir, seed=self.recipe.seed
            )
            paths["eval_set:mcq"] = final(ev / "mcq.jsonl")
        rd.publish()
        return paths

    def manifest(
        self,
        table: pl.DataFrame | Shards,
        outputs: dict[str, str],
        warnings: list[str],
        licenses: list[dict[str, Any]],
        timings: dict[str, float],
    ) -> dict[str, Any]:
        return {
            "name": self.recipe.name,
            "recipe": self.recipe.model_dump(mode="json", exclude={"path"}),
            "recipe_path": str(self.recipe.path) if self.recipe.path else None,
            "versions": versions(),
            "seed": self.recipe.seed,
            "sources": self.sources,
            "rejects": self.n_rejects,
            "stages": [r.__dict__ for r in self.records],
            "output": {"rows": table.height, "files": outputs, "licenses": licenses},
            "warnings": warnings,
            "timings": timings,
            **({"eval_sets": self.mcq_sets} if self.mcq_sets else {}),
        }


def run(
    recipe: Recipe,
    *,
    out: Path | None = None,
    force: bool = False,
    progress: bool | None = None,
    train: bool = True,
) -> RunResult:
    """Run ``recipe`` end to end and return the result (see ``curate.run`` for the public entry)."""

    with registry.frozen(), run_log(out or Path("runs") / recipe.name):
        return _run(built(recipe), out=out, force=force, progress=progress, train=train)


def _run(recipe: Recipe, *, out: Path | None, force: bool, progress: bool | None, train: bool) -> RunResult:
    runner = Runner(recipe, out=out, force=force, progress=progress)
    with RunLock(runner.rd.root), memo():  # shards written by this run are read back from memory
        runner.rd.begin()
        return _locked_run(runner, recipe, train=train)


def _locked_run(runner: Runner, recipe: Recipe, *, train: bool) -> RunResult:
    from curate.governance import check_licenses, license_manifest

    t_start = time.perf_counter()
    table, fp = runner.read()
    estimates = runner.estimates(table)
    t_read = time.perf_counter()
    table, side = runner.run_stages(table, fp)
    t_stages = time.perf_counter()
    narrow = _narrow(table)  # source (and license) of every output row: what the ledger needs
    counts = narrow.group_by("source").len().to_dict(as_series=False)
    warnings = [f"{r.name}: {w}" for r in runner.records for w in r.warnings]  # stage warnings first
    warnings += check_licenses(recipe, dict(zip(counts["source"], counts["len"], strict=True)))
    for w in warnings:
        log.warning(w)
    outputs = runner.write_output(table, side)
    timings = {"read_s": round(t_read - t_start, 3), "stages_s": round(t_stages - t_read, 3)}
    manifest = runner.manifest(table, outputs, warnings, license_manifest(narrow, recipe), timings)
    if estimates:
        manifest["estimates"] = estimates
    training = recipe.train is not None and train
    if not training:  # with training the manifest waits for it: a run is complete only when trained
        write_manifest(runner.rd.manifest, manifest)
    if training:
        from curate.train import run_training

        runner.output_frame = None  # not held through training (the report reads the file then)

        t0 = time.perf_counter()
        cfg = recipe.train_config
        beat = "heartbeat" if runner.mode == "heartbeat" else "off"  # the trainer draws its own bar
        with status("train: tokenize, set up and train", beat):
            data = table if isinstance(table, pl.DataFrame) else table.collect()  # training holds its data
            metrics = run_training(data, side.get("eval"), cfg, runner.rd.train, manifest=manifest)
        manifest["train"] = metrics
        manifest["timings"]["train_s"] = round(time.perf_counter() - t0, 3)
        if recipe.eval.after_train:  # the adapter meets the eval sets (curate eval RUN_DIR does the same)
            from curate.train.assess import evaluate_run

            t0 = time.perf_counter()
            evaluate_run(runner.rd.root, spec=recipe.eval, manifest=manifest)
            manifest["timings"]["eval_s"] = round(time.perf_counter() - t0, 3)
    manifest["timings"]["total_s"] = round(time.perf_counter() - t_start, 3)
    write_manifest(runner.rd.manifest, manifest)
    _write_report(runner.rd, output=runner.output_frame)
    runner.output_frame = None
    res = RunResult(run_dir=runner.rd, manifest=manifest, data=table, side=side)
    if table.height <= SHARD_ROWS:  # small: load it now, as a whole-table run held it anyway
        _ = res.output
    return res


def _write_report(rd: RunDir, output: pl.DataFrame | None = None) -> None:
    """``report.html`` through a temp file and a rename: a killed run never leaves half a report.
    ``output``: the train table as just written, when the run holds it (read from memory, not
    back from ``train.canonical.parquet``)."""
    import os

    from curate.report.html import render

    tmp = rd.report.with_name(rd.report.name + ".tmp")
    tmp.write_text(render(rd.root, output=output), encoding="utf-8")
    os.replace(tmp, rd.report)


def _narrow(table: pl.DataFrame | Shards) -> pl.DataFrame:
    cols = ["source", *(["license"] if "license" in table.schema else [])]
    return table.select(cols) if isinstance(table, pl.DataFrame) else table.select(*cols)
