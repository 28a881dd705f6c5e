"""A finished run as Python objects: ``curate.open(run_dir)`` -> :class:`Run`.

The report, the notebook and ``curate trace`` all read a run through this one class, so what a
notebook shows is what the report draws. Everything is lazy and columnar: ``scores(stage)`` reads
only the score columns of a stage's Parquet shards (``pl.scan_parquet`` + ``select``), so on the
quickstart run (1,958 rows, 12 stages) listing every stage's scores takes ~0.1 s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from curate.fields import field_text
from curate.pipeline.rundir import RunDir
from curate.pipeline.shards import Shards

if TYPE_CHECKING:
    import plotly.graph_objects as go

PREVIEW_CHARS = 300


@dataclass(frozen=True)
class StageInfo:
    """One stage of a run: its manifest record, folder and the score columns it added."""

    index: int
    name: str
    dir: Path
    record: dict[str, Any]
    score_columns: tuple[str, ...]

    @property
    def removed_path(self) -> Path:
        return self.dir / "removed.parquet"


def preview(*, chars: int = PREVIEW_CHARS) -> pl.Expr:
    """First user turn and first answer (or the document) as one short line of text."""
    user = field_text("first_user")
    answer = (
        pl.col("messages")
        .list.eval(
            pl.element().filter(pl.element().struct.field("role") == "assistant").struct.field("content")
        )
        .list.first()
    )
    chat = pl.concat_str([pl.lit("Q: "), user, pl.lit("  A: "), answer.fill_null("")])
    body = pl.when(pl.col("kind") == "text").then(pl.col("text").fill_null("")).otherwise(chat)
    return (
        pl.when(body.str.len_chars() > chars)
        .then(body.str.slice(0, chars) + pl.lit("…"))
        .otherwise(body)
        .alias("preview")
    )


def _columns(paths: list[Path]) -> list[str]:
    return list(pl.read_parquet_schema(paths[0])) if paths else []


class Run:
    """A run directory: its manifest, stages, removed rows, scores and output."""

    def __init__(self, root: str | Path, *, output: pl.DataFrame | None = None):
        self.rd = RunDir(Path(root).resolve())
        if not self.rd.manifest.exists():
            raise FileNotFoundError(f"{root} has no manifest.json: not a finished curate run")
        self.manifest: dict[str, Any] = json.loads(self.rd.manifest.read_text(encoding="utf-8"))
        self.stages: list[StageInfo] = self._stages()
        # ``output``: the train table as the run wrote it, when the caller holds it (the run's own
        # report): the sections read it here instead of train.canonical.parquet (on the bench's
        # 115k documents ~0.05-0.1 s CPU of Parquet decoding saved)
        self._outputs: dict[str, pl.DataFrame] = {} if output is None else {"train": output}

    def __repr__(self) -> str:
        return (
            f"Run({str(self.rd.root)!r}, {len(self.stages)} stages, {self.manifest['output']['rows']} rows)"
        )

    def _stages(self) -> list[StageInfo]:
        out, prev = [], set()
        for rec in self.manifest["stages"]:
            sdir = self.rd.stage_dir(rec["index"], rec["name"])
            cols = Shards.of(sdir).schema.names() or _columns(
                [p for p in [sdir / "removed.parquet"] if p.exists()]
            )
            new = tuple(c for c in cols if c.startswith("score_") and c not in prev)
            prev |= set(cols)
            out.append(StageInfo(rec["index"], rec["name"], sdir, rec, new))
        return out

    def stage(self, name: str | int) -> StageInfo:
        """A stage by name (``"filter.length"``), folder name (``"04-filter.length"``) or index."""
        for s in self.stages:
            if name in (s.index, s.name, s.dir.name):
                return s
        raise KeyError(f"no stage {name!r}; stages: {', '.join(s.name for s in self.stages)}")

    # tables -------------------------------------------------------------------------------------------
    def kept(self, stage: str | int) -> pl.LazyFrame:
        """What ``stage`` kept, lazily (select the columns you need before ``collect``)."""
        return Shards.of(self.stage(stage).dir).scan()  # a thin stage's rows rebuilt (pipeline.thin)

    def removed(self, stage: str | int | None = None, reason: str | None = None) -> pl.DataFrame:
        """Removed rows (all stages, or one): ``stage``, ``reason``, ``value``, ``threshold``, ``dup_of``."""
        if stage is None:
            df = self.rd.removed()
        else:
            p = self.stage(stage).removed_path
            df = pl.read_parquet(p) if p.exists() else pl.DataFrame()
        if reason is not None and df.height:
            df = df.filter(pl.col("reason") == reason)
        return df

    def scores(self, stage: str | int, *, ids: bool = True) -> pl.DataFrame:
        """The stage's own ``score_*`` columns for every row it saw, with ``removed`` and ``reason``
        (and ``id`` and ``origin``, unless ``ids=False``: the report's histograms need only scores)."""
        s = self.stage(stage)
        cols = [*(["id", "origin"] if ids else []), *s.score_columns]
        # narrow columns shard by shard; a thin stage's from its own file (``pipeline.thin``)
        kept = Shards.of(s.dir).select(*cols) if cols else pl.DataFrame()
        kept = kept.with_columns(removed=pl.lit(False), reason=pl.lit(None, pl.String))
        if not s.removed_path.exists():
            return kept
        have = pl.read_parquet_schema(s.removed_path)
        rem = pl.scan_parquet(s.removed_path).select(*[c for c in cols if c in have], "reason").collect()
        return pl.concat([kept, rem.with_columns(removed=pl.lit(True))], how="diagonal_relaxed")

    def output(self, split: str = "train") -> pl.DataFrame:
        """The final dataset (canonical table); ``split="eval"`` for the held-out rows. Read once."""
        if split not in self._outputs:
            self._outputs[split] = pl.read_parquet(self.rd.output / f"{split}.canonical.parquet")
        return self._outputs[split]

    def scan_output(self, split: str = "train") -> pl.LazyFrame:
        """The final dataset, lazily: select the columns you need, so a large run is never read
        whole (the report's length and mix sections read one or two columns this way)."""
        held = self._outputs.get(split)
        if held is not None:
            return held.lazy()
        return pl.scan_parquet(self.rd.output / f"{split}.canonical.parquet")

    def rejects(self) -> pl.DataFrame:
        """Input records that could not be parsed, with origin and error."""
        return pl.read_parquet(self.rd.rejects) if self.rd.rejects.exists() else pl.DataFrame()

    def near_duplicates(self, limit: int | None = None) -> pl.DataFrame:
        """Removed duplicates next to the row they duplicate, as texts, and whether that row survived.
        With ``limit``, only that many pairs' texts are read (the report shows 10 of a large run's)."""
        parts: list[pl.DataFrame] = []
        left = limit
        for s in self.stages:
            if left == 0:
                break
            if not s.name.startswith("dedup.") or not s.removed_path.exists():
                continue
            rem = pl.scan_parquet(s.removed_path).filter(pl.col("dup_of").is_not_null())
            rem = (rem.head(left) if left else rem).collect()
            if not rem.height:
                continue
            left = None if left is None else left - rem.height
            kept = self.kept(s.index).filter(pl.col("id").is_in(rem["dup_of"].unique().implode()))
            kept = kept.select("id", "origin", "kind", "text", "messages").collect()
            kept = kept.select(
                pl.col("id").alias("dup_of"),
                pl.col("origin").alias("kept_origin"),
                preview().alias("kept_text"),
            )
            rem = rem.select("stage", "origin", preview().alias("removed_text"), "value", "dup_of")
            parts.append(rem.join(kept, on="dup_of", how="left"))
        if not parts:
            return pl.DataFrame()
        df = pl.concat(parts, how="diagonal_relaxed").rename({"value": "similarity"})
        survivors = df["dup_of"].unique().implode()
        out_ids = self.scan_output().select("id").filter(pl.col("id").is_in(survivors)).collect()["id"]
        return df.with_columns(kept_in_output=pl.col("dup_of").is_in(out_ids.implode()))

    def n_near_duplicates(self) -> int:
        """Rows the dedup stages removed as duplicates of a named row (counted, not read)."""
        return sum(
            pl.scan_parquet(s.removed_path).filter(pl.col("dup_of").is_not_null()).select(pl.len()).collect().item()
            for s in self.stages
            if s.name.startswith("dedup.") and s.removed_path.exists()
        )

    def metrics(self) -> pl.DataFrame:
        """Training metrics (``train/metrics.jsonl``): step, loss, eval_loss, lr, tokens_per_s."""
        p = self.rd.train / "metrics.jsonl"
        if not p.exists():
            return pl.DataFrame()
        recs = []
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return pl.from_dicts(recs, infer_schema_length=None) if recs else pl.DataFrame()

    def trace(self, key: str, *, decode: bool = True) -> Any:
        """What happened to one row, from raw record to its training examples: token ids, loss mask
        and the optimizer steps that used them (see ``curate trace``). ``decode=False`` skips the
        tokenizer (ids and mask are still read)."""
        from curate.report.trace import trace

        return trace(self, key, decode=decode)

    # charts: plotly figures of the specs the report draws (the report itself never imports plotly) ---
    def plot_funnel(self) -> go.Figure:
        from curate.report import figures

        return figures.funnel(self.manifest["stages"]).figure()

    def plot_scores(self, stage: str | int, column: str | None = None) -> go.Figure:
        """The score's distribution, kept vs removed, with the stage's threshold drawn."""
        from curate.report import figures

        s = self.stage(stage)
        col = column or s.score_columns[0]
        thr = figures.thresholds(self.removed(s.index), col)
        return figures.score_hist(self.scores(s.index), col, thr).figure()

    def plot_lengths(self) -> go.Figure:
        from curate.report import figures

        return figures.lengths(self.kept(0).collect(), self.output()).figure()

    def plot_mix(self) -> go.Figure | None:
        from curate.report import figures

        fig = figures.mix(self.manifest["stages"])
        return fig.figure() if fig is not None else None

    def plot_tags(self, column: str) -> go.Figure:
        """Counts of a ``tag_*`` (or ``cluster``) column's labels in the output."""
        from curate.report import figures
        from curate.report.sections import _label_counts

        labels, counts, cov = _label_counts(self.output(), column)
        title = f"{column}: {cov:.0%} of rows labelled"
        return figures.bars(labels, {"rows": counts}, title, ytitle="rows").figure()

    def plot_clusters(self, column: str = "cluster") -> go.Figure | None:
        """The output's texts in 2-D (char n-gram TF-IDF + SVD), coloured by ``column``."""
        from curate.report.projection import coordinates, scatter

        xy = coordinates(self.output(), label=column, seed=self.manifest.get("seed", 0))
        return scatter(xy, f"coloured by {column}").figure() if xy.height else None

    def plot_loss(self) -> go.Figure | None:
        from curate.report import figures

        tr = self.manifest.get("train") or {}
        final = tr.get("final_eval_loss") if isinstance(tr, dict) else None
        fig = figures.loss(self.metrics(), final if isinstance(final, (int, float)) else None)
        return fig.figure() if fig is not None else None


def open_run(run_dir: str | Path) -> Run:
    """Open a finished run directory."""
    return Run(run_dir)
