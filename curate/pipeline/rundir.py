"""The run directory on disk: stage outputs, ledgers, completion markers and the manifest.

    runs/<name>/manifest.json
    runs/<name>/rejects.parquet
    runs/<name>/stages/NN-<stage>/kept-00000.parquet ...  removed.parquet  side-<name>.parquet  _done.json
                                  (or rows-00000.parquet ...: a thin stage, ``pipeline.thin``)
    runs/<name>/output/  eval/
    runs/<name>/.lock                   held by the running process (``pipeline.lock``)
    runs/<name>/.partial/               output/ and eval/ being written, renamed into place when whole

A stage directory counts as finished only when ``_done.json`` exists and carries the fingerprint
the runner expects; it is written last, into ``NN-<stage>.tmp``, renamed into place, so a killed run
never leaves a half stage that looks done. A streamed stage (``executors.segment``) fills its
``.tmp`` shard by shard, each shard's files before its ``part-NNNNN.pkl`` marker; the ``.tmp`` dir
records its fingerprint, so a re-run of the same recipe keeps the finished shards (resume at shard
granularity) and one of a changed recipe starts the stage afresh.
The run as a whole follows the same rule: a run starts by
deleting ``manifest.json``, writes its outputs under ``.partial/`` and renames them into place, and
writes the manifest last (atomically). A run directory without a manifest is incomplete, and every
reader (``read_manifest``) refuses it instead of reading old or half-written files as a finished run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import InputError
from curate.pipeline.memo import moved
from curate.pipeline.shards import CHECKPOINT, SHARD_ROWS, Shards, shard_name, write_shard


class RunDir:
    """Paths and (de)serialization for one run."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.stages = self.root / "stages"
        self.output = self.root / "output"
        self.manifest = self.root / "manifest.json"
        self.rejects = self.root / "rejects.parquet"
        self.report = self.root / "report.html"
        self.train = self.root / "train"
        self.eval = self.root / "eval"
        self.partial = self.root / ".partial"

    def create(self) -> RunDir:
        self.stages.mkdir(parents=True, exist_ok=True)
        return self

    def begin(self) -> None:
        """Mark the run incomplete before anything is written: drop the manifest and any leftover
        half-written outputs of a killed run. Call with the run's lock held."""
        self.manifest.unlink(missing_ok=True)
        if self.partial.exists():
            shutil.rmtree(self.partial)
        for d in self.stages.glob("*.tmp"):  # a streamed stage's finished shards stay for resume
            if not (d / "_fingerprint").exists():
                shutil.rmtree(d)
        for f in (self.root / "scores").glob("*.tmp"):
            f.unlink()

    def end(self) -> None:
        """Drop the ``.tmp`` dirs no stage of this run finished (a longer recipe's, killed earlier)."""
        for d in self.stages.glob("*.tmp"):
            shutil.rmtree(d, ignore_errors=True)

    @staticmethod
    def open_stage(sdir: Path, fingerprint: str, *, fresh: bool = False) -> Path:
        """The ``.tmp`` dir a streamed stage fills shard by shard: kept as it is when it was left by
        a killed run of the same ``fingerprint`` (and not ``fresh``), else emptied."""
        tmp = sdir.with_name(sdir.name + ".tmp")
        mark = tmp / "_fingerprint"
        if tmp.exists() and (fresh or not mark.exists() or mark.read_text(encoding="utf-8") != fingerprint):
            shutil.rmtree(tmp)
        if not tmp.exists():
            tmp.mkdir(parents=True)
            (tmp / "_fingerprint.part").write_text(fingerprint, encoding="utf-8")
            os.replace(tmp / "_fingerprint.part", mark)
        return tmp

    @staticmethod
    def close_stage(sdir: Path, record: dict[str, Any]) -> None:
        """Finish a streamed stage: its marker into the ``.tmp`` dir, then the rename into place."""
        tmp = sdir.with_name(sdir.name + ".tmp")
        (tmp / "_fingerprint").unlink(missing_ok=True)
        (tmp / "_done.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        if sdir.exists():
            shutil.rmtree(sdir)
        os.replace(tmp, sdir)
        moved(tmp, sdir)

    def publish(self) -> None:
        """Move ``.partial/output`` and ``.partial/eval`` into place (old ones go, even when this run
        has no eval split). Each is one ``rename``; the manifest, written after, makes them count."""
        for final in (self.output, self.eval):
            new = self.partial / final.name
            if final.exists():
                shutil.rmtree(final)
            if new.exists():
                os.replace(new, final)
        shutil.rmtree(self.partial, ignore_errors=True)

    @staticmethod
    def is_run(path: Path) -> bool:
        """Does ``path`` look like a run directory (finished or not)?"""
        p = Path(path)
        return p.is_dir() and any((p / n).exists() for n in ("manifest.json", "stages", ".lock"))

    @staticmethod
    def read_manifest(root: Path) -> dict[str, Any]:
        """The manifest of a finished run; an InputError when the run is running or was interrupted."""
        from curate.pipeline.lock import is_locked, read_holder

        root = Path(root)
        try:
            return json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        if is_locked(root):
            h = read_holder(root) or {}
            why = f"a curate run (pid {h.get('pid', '?')}) is still writing it"
            hint = "wait for that run to finish"
        else:
            why = "its last run did not finish (killed or failed before writing manifest.json)"
            hint = f"re-run the recipe with --out {root}; finished stages are reused"
        raise InputError(f"run directory {root} is incomplete: {why}", hint=hint)

    def scores_path(self, index: int, name: str, fingerprint: str) -> Path:
        """Where a row stage's scored table is kept, keyed by its scoring fingerprint."""
        return self.root / "scores" / f"{index:02d}-{name}-{fingerprint}.parquet"

    def scores_dir(self, index: int, name: str, fingerprint: str) -> Path:
        """Where a streamed row stage keeps its scored shards (``part-NNNNN.parquet``); older
        scorings of the same stage (other fingerprints) are deleted."""
        d = self.root / "scores" / f"{index:02d}-{name}-{fingerprint}"
        for old in (self.root / "scores").glob(f"{index:02d}-{name}-*"):
            if old != d:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        d.mkdir(parents=True, exist_ok=True)
        return d

    def stage_dir(self, index: int, name: str) -> Path:
        return self.stages / f"{index:02d}-{name}"

    @staticmethod
    def done(sdir: Path) -> dict[str, Any] | None:
        """The completion record of a stage dir, or None when it did not finish."""
        marker = sdir / "_done.json"
        if not marker.exists():
            return None
        try:
            return json.loads(marker.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None

    @staticmethod
    def write_stage(
        sdir: Path,
        *,
        kept: pl.DataFrame,
        removed: pl.DataFrame | None,
        side: dict[str, pl.DataFrame],
        record: dict[str, Any],
    ) -> None:
        """Write a finished stage: into ``<sdir>.tmp``, data first and marker last, then renamed."""
        tmp = sdir.with_name(sdir.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        for n, start in enumerate(range(0, max(kept.height, 1), SHARD_ROWS)):
            write_shard(kept.slice(start, SHARD_ROWS), tmp / shard_name(n))
        if removed is not None and removed.height:
            removed.write_parquet(tmp / "removed.parquet", **CHECKPOINT)
        for name, df in side.items():
            df.write_parquet(tmp / f"side-{name}.parquet", **CHECKPOINT)
        (tmp / "_done.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        if sdir.exists():
            shutil.rmtree(sdir)
        os.replace(tmp, sdir)
        moved(tmp, sdir)

    @staticmethod
    def write_parquet(df: pl.DataFrame, path: Path) -> None:
        """``df`` to ``path`` through a temp file and a rename: never a half file under the name."""
        tmp = path.with_name(path.name + ".tmp")
        df.write_parquet(tmp)
        os.replace(tmp, path)

    @staticmethod
    def read_kept(sdir: Path) -> pl.DataFrame:
        return Shards.of(sdir).collect()

    @staticmethod
    def read_side(sdir: Path) -> dict[str, pl.DataFrame]:
        return {p.stem[len("side-") :]: pl.read_parquet(p) for p in sorted(sdir.glob("side-*.parquet"))}

    def removed(self) -> pl.DataFrame:
        """Every removed row of every stage, one table (for notebooks and the report)."""
        parts = [pl.read_parquet(p) for p in sorted(self.stages.glob("*/removed.parquet"))]
        return pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()

    def clear_from(self, index: int) -> None:
        """Drop stage dirs at or after ``index`` (their inputs changed)."""
        for d in self.stages.glob("[0-9][0-9]-*"):
            if d.is_dir() and not d.name.endswith(".tmp") and int(d.name[:2]) >= index:
                shutil.rmtree(d)
