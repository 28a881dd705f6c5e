"""The stage contract: a batch or table goes in, ``(kept, removed)`` comes out.

Two shapes (DESIGN.md, "Stage contract"):

* ``RowStage`` decides each row on its own, so the executor may call it on any batch in any
  process. It writes its statistics as ``score_*`` columns in ``transform`` and lists ``Rule``s;
  the base class turns the first rule that fires into ``reason``/``value``/``threshold``.
* ``GlobalStage`` needs the whole table (dedup, clustering, mixing) and implements ``apply``.

Stages never touch run directories, pools or logging set-up: the runner owns those.

Where a stage lives and what it may import (the import rule; ``tests/test_layout.py`` walks every
import with ast and names the file and the rule it breaks):

* the ground floor (``errors``, ``schema``, ``fields``, ``version``, ``cache``) imports only itself;
* ``text/`` and ``chat/`` import only the ground floor: arrays in, arrays out;
* a stage lives in ``stages/<prefix>/`` (``filter.length`` -> ``stages/filter/length.py``) and
  imports ``pipeline.stage``, ``pipeline.registry``, ``text``, ``chat``, ``embed``, ``lm``, ``models``
  and the ground floor (and its sibling stages);
* ``embed/`` (embedders, the embedding cache, k-means, chunked greedy kernels) imports ``text``,
  ``models``, ``pipeline.stage`` and the ground floor;
* ``lm/`` (the one answer-likelihood core, shared by stages, training and eval) imports ``chat``,
  ``models``, ``pipeline.stage`` and the ground floor;
* nothing imports ``stages/`` except the registry, by name (``importlib``, from each family's
  ``STAGES`` dict);
* ``formats/`` imports only ``text/`` and the ground floor;
* only ``app.py`` (the application) and ``cli/`` import ``train/``; only ``cli/`` imports the package face.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from curate.pipeline.equal import same_values
from curate.pipeline.stats import Count, Same  # noqa: F401 (re-exported: stages type their stats)
from curate.schema import REMOVED_SCHEMA


class StageConfig(BaseModel):
    """Base of every stage config: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class StageContext:
    """What a stage may need from the run, injected rather than global.

    ``models`` resolves model names (see ``curate.models.ModelHub``); ``cache_dir`` is where a stage
    may cache model outputs keyed by content hash. ``train_model`` names the training model, for
    stages that count tokens the way training will.
    """

    seed: int = 42
    models: Any = None
    cache_dir: Path | None = None
    train_model: str | None = None
    workers: int = field(default_factory=lambda: available_cpus())
    pool_always: bool = False  # workers set by the recipe or CLI: every multi-shard segment pools

    @property
    def threads(self) -> int:
        """Threads a compiled kernel may use (at least 1)."""
        return max(1, self.workers)


@dataclass
class StageResult:
    """What a stage returns.

    ``side`` holds named side outputs (e.g. an eval split) that leave the main flow but are not
    removed; ``added`` counts rows the stage created (repeats from up-sampling). The runner checks
    ``rows_in + added == len(kept) + len(removed) + sum(len(side))``. A row stage's ``stats`` are
    merged across batches by type (``curate.pipeline.stats``: ``Count`` adds, ``Same`` must agree).
    ``warnings`` are sentences a user must see (data damaged or a target missed); the runner puts
    them, prefixed with the stage name, into the manifest's ``warnings``, the CLI summary and the
    report.
    """

    kept: pl.DataFrame
    removed: pl.DataFrame | None = None
    side: dict[str, pl.DataFrame] = field(default_factory=dict)
    added: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Optional: the input positions of the ``kept`` rows (``split_by_rules`` sets it). The streaming
    # executor then checkpoints only positions and the columns that differ from the input
    # (``pipeline.thin``); it checks every column it leaves out, so a wrong hint costs only speed.
    kept_rows: np.ndarray | None = None

    @property
    def n_removed(self) -> int:
        return 0 if self.removed is None else self.removed.height

    def all_warnings(self) -> list[str]:
        """``warnings`` plus any a stage still lists in ``stats["warnings"]``, each once."""
        listed = self.stats.get("warnings") if isinstance(self.stats.get("warnings"), list) else []
        return list(dict.fromkeys([*self.warnings, *listed]))


@dataclass(frozen=True)
class Rule:
    """Remove a row when ``when`` is true; record ``reason``, the statistic ``value`` and ``threshold``."""

    reason: str
    when: pl.Expr
    value: pl.Expr | None = None
    threshold: float | int | str | None = None

    @classmethod
    def above(cls, reason: str, column: str, limit: float | None) -> list[Rule]:
        """``[Rule]`` removing rows whose ``column`` exceeds ``limit``; ``[]`` when the limit is off (None).

        The threshold pattern every filter repeats: ``rules = [*Rule.below(...), *Rule.above(...)]``.
        """
        c = pl.col(column)
        return [] if limit is None else [cls(reason, c > limit, c, limit)]

    @classmethod
    def below(cls, reason: str, column: str, limit: float | None) -> list[Rule]:
        """``[Rule]`` removing rows whose ``column`` is under ``limit``; ``[]`` when the limit is off."""
        c = pl.col(column)
        return [] if limit is None else [cls(reason, c < limit, c, limit)]


class Stage(ABC):
    """Base of all stages. Subclasses set ``Config`` and are registered with ``@register``."""

    name: ClassVar[str] = "stage"
    scope: ClassVar[Literal["row", "global"]] = "global"
    Config: ClassVar[type[StageConfig]] = StageConfig

    def __init__(self, cfg: StageConfig | dict[str, Any] | None = None, *, ctx: StageContext | None = None):
        if cfg is None:
            cfg = self.Config()
        elif isinstance(cfg, dict):
            cfg = self.Config(**cfg)
        self.cfg = cfg
        self.ctx = ctx or StageContext()

    @property
    def seed(self) -> int:
        """The seed this stage uses: its config's ``seed`` when set, else the run's (resolved here once)."""
        own = getattr(self.cfg, "seed", None)
        return self.ctx.seed if own is None else own

    @abstractmethod
    def apply(self, df: pl.DataFrame) -> StageResult:
        """Process a batch (row stages) or the whole table (global stages)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cfg!r})"


class RowStage(Stage):
    """A stage that decides each row alone: ``transform`` adds scores, ``rules`` decide."""

    scope: ClassVar[Literal["row", "global"]] = "row"
    # Config fields read only by ``rules``: changing one re-runs the split, not the scoring (the
    # runner caches the scored table under a fingerprint of every other field and ``score_key``).
    thresholds: ClassVar[frozenset[str]] = frozenset()
    # Per-row Python that holds the GIL (ftfy, fastText, a tokenizer per turn): with the recipe's
    # default workers, only a segment holding such a stage runs in the process pool. A segment of
    # polars and compiled kernels already uses every core, and the pool's interpreter starts cost
    # +1.5-2.8 s CPU on 100k documents for no wall gain (bench/README.md, process pool).
    gil_bound: ClassVar[bool] = False
    # ``transform`` and ``split`` are polars expressions and compiled kernels that release the GIL,
    # with no model and no state: the local executor may run row slices of one batch in threads at
    # once (``executors.local``). Off by default: a model or a tokenizer is not shared that way.
    thread_safe: ClassVar[bool] = False

    def score_key(self) -> object:
        """What, besides the non-threshold config, decides the score columns (default: nothing)."""
        return None

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        """Add ``score_*`` columns or rewrite fields. Default: unchanged."""
        return batch

    def rules(self) -> list[Rule]:
        """Removal rules, checked in order; the first that fires names the reason."""
        return []

    def split(self, scored: pl.DataFrame) -> StageResult:
        """Split a ``transform``ed table by ``rules``; a stage that also rewrites kept rows after
        the split (filter.c4) overrides this, not ``apply``, so its scores can still be cached."""
        return split_by_rules(scored, self.rules(), stage=self.name)

    def apply(self, df: pl.DataFrame) -> StageResult:
        return self.split(self.transform(df))


class ScoreOnly(Stage):
    """A row stage's ``transform`` as a stage that removes nothing: the executor batches it as usual."""

    scope: ClassVar[Literal["row", "global"]] = "row"

    def __init__(self, stage: RowStage):
        super().__init__(stage.cfg, ctx=stage.ctx)
        self.stage = stage
        self.name = stage.name

    @property
    def thread_safe(self) -> bool:
        """The stage's own (``RowStage.thread_safe``): its transform may run on slices in threads."""
        return self.stage.thread_safe

    def apply(self, df: pl.DataFrame) -> StageResult:
        return StageResult(kept=self.stage.transform(df))


def score_part(df: pl.DataFrame, scored: pl.DataFrame) -> pl.DataFrame:
    """What a score cache stores of ``scored`` (= ``transform(df)``): the columns the transform added
    and every ``score_*`` column, not the text again. On the 136k-document bench corpus, writing the
    whole scored table cost ~0.55 s CPU per filter, this ~0.05 s. A transform that rewrites any other
    column is stored whole."""
    changed = [c for c in scored.columns if c not in df.columns or c.startswith("score_")]
    same = [c for c in df.columns if c in scored.columns and c not in changed]
    if scored.height != df.height or len(changed) + len(same) != scored.width:
        return scored
    for c in same:
        if not same_values(scored[c], df[c]):
            return scored
    return scored.select(changed)


def with_scores(df: pl.DataFrame, part: pl.DataFrame) -> pl.DataFrame:
    """``transform(df)`` again from its cached ``score_part``: the cached columns replace or extend
    ``df``'s in place, exactly as the transform's ``with_columns`` did."""
    if part.height == df.height and set(df.columns) <= set(part.columns):
        return part  # stored whole
    return df.with_columns(part.get_columns())


def caches_scores(stage: Stage) -> bool:
    """True for a row stage that declares thresholds and keeps the base ``apply`` (transform, then split)."""
    return isinstance(stage, RowStage) and bool(stage.thresholds) and type(stage).apply is RowStage.apply


def plans(stage: Stage) -> bool:
    """True for a global stage that decides from narrow columns (``narrow``/``plan``, optional
    ``prepare``; ``GlobalStage``): both executors then carry its plan out shard by shard or block
    by block instead of handing it the whole table."""
    return stage.scope == "global" and all(callable(getattr(stage, m, None)) for m in ("narrow", "plan"))


class GlobalStage(Stage):
    """A stage that must see the whole table at once.

    A global stage that only removes rows may also define ``decide(table) -> Removal``: ``table``
    is the run's sharded table (``pipeline.shards.Shards``: ``height``, ``select(*exprs)`` for
    narrow columns of every row, ``gather(rows, columns)`` for a few whole rows), so the decision
    needs only the columns it reads in memory, and the streaming executor applies it shard by shard.
    ``apply`` and ``decide`` must agree exactly (``tests/pipeline/test_shards.py`` checks it).

    A global stage that mixes, caps, samples or splits may instead define ``narrow(schema)`` (the
    per-row columns its decision reads, as expressions), ``plan(narrow) -> Plan``
    (``stages.mix.allocate.Plan``: copies, reason or side output per row) and, optionally, a
    row-local ``prepare(frame)`` (columns the kept rows carry, e.g. token counts); its ``apply``
    is ``plan(narrow of prepare(table)).apply(prepare(table))``. Executors then prepare and carry
    the plan out per shard (``executors.planned``) or per Ray block; the same test checks that
    every such stage agrees with its ``apply``.

    An embedding stage (``dedup.semantic``, ``tag.clusters``, ``select.diverse``) defines
    ``make_embedder()``, ``narrow(schema)`` (the per-row columns besides the vectors: id, survivor
    key, score, group) and ``choose(narrow, x, emb_stats, texts) -> Removal | Columns`` (``x``:
    the unit vectors, in memory or on disk, anything that slices and gathers rows like an array;
    ``texts()``: the embedded field's texts, one list per shard); its ``apply`` embeds the table,
    chooses and splits. The local executor embeds shard by shard into a file and carries the
    decision out per shard (``executors.embedded``); ``tests/pipeline/test_embedded.py`` checks
    that both agree.
    """

    scope: ClassVar[Literal["row", "global"]] = "global"


@dataclass
class Removal:
    """What a global stage decided from narrow columns (``GlobalStage.decide``, or an embedding
    stage's ``choose``): remove rows ``rows`` (sorted positions in the whole table) with ``reason``
    (one, or one per removed row), per-row ``value`` and ``dup_of`` ids (or None), ``threshold``,
    and its stats. The executor then splits the table shard by shard (``split``)."""

    rows: np.ndarray
    reason: str | np.ndarray
    value: np.ndarray | float
    dup_of: list[str | None] | None = None
    threshold: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def split(self, df: pl.DataFrame, *, stage: str, offset: int = 0, first: bool = True) -> StageResult:
        """The rows ``offset ..`` of the table (``df``: a shard, or the whole table) split by this
        decision; the stats and warnings go with the ``first`` part (shard 0) only."""
        rows = np.asarray(self.rows, dtype=np.int64)
        a, b = np.searchsorted(rows, [offset, offset + df.height])
        local = rows[a:b] - offset
        value = np.broadcast_to(np.asarray(self.value, dtype=np.float64), rows.shape)[a:b]
        reason: Any = self.reason
        if not isinstance(reason, str):  # one per removed row
            reason = pl.lit(pl.Series(reason[a:b], dtype=pl.Utf8))
        dup = None if self.dup_of is None else pl.lit(pl.Series(self.dup_of[a:b], dtype=pl.Utf8))
        mask = np.zeros(df.height, dtype=bool)
        mask[local] = True
        removed = mark_removed(
            df[local],
            stage=stage,
            reason=reason,
            value=pl.lit(pl.Series(value, dtype=pl.Float64)),
            threshold=self.threshold,
            dup_of=dup,
        )
        return StageResult(
            kept=df.filter(pl.Series(~mask)),
            removed=removed,
            stats=self.stats if first else {},
            warnings=self.warnings if first else [],
            kept_rows=np.flatnonzero(~mask),
        )


@dataclass
class Columns:
    """What a stage that only adds columns decided (``tag.clusters``' ``choose``): ``columns``,
    one row per table row (narrow: a label and its name), and its stats; ``split`` puts a shard's
    rows of them beside the shard, nothing removed."""

    columns: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def split(self, df: pl.DataFrame, *, stage: str, offset: int = 0, first: bool = True) -> StageResult:
        """The rows ``offset ..`` of the table with their columns added (stats with the ``first``)."""
        out = df.with_columns(self.columns.slice(offset, df.height).get_columns())
        return StageResult(
            kept=out,
            stats=self.stats if first else {},
            warnings=self.warnings if first else [],
            kept_rows=np.arange(df.height),
        )


def embeds(stage: Stage) -> bool:
    """True for a global stage that decides from embeddings (``GlobalStage``, embedding stages):
    the local executor then embeds shard by shard into a file and carries its decision out per
    shard (``executors.embedded``)."""
    return stage.scope == "global" and all(callable(getattr(stage, m, None)) for m in ("narrow", "choose"))


def _chain(rules: list[Rule], pick: str, dtype: pl.DataType) -> pl.Expr:
    expr: Any = None
    for r in rules:
        raw = getattr(r, pick)
        if pick == "reason":
            val = pl.lit(r.reason)
        elif pick == "value":
            val = raw.cast(pl.Float64) if raw is not None else pl.lit(None, dtype=pl.Float64)
        else:
            val = pl.lit(None if raw is None else str(raw), dtype=pl.Utf8)
        cond = r.when.fill_null(False)
        expr = pl.when(cond).then(val) if expr is None else expr.when(cond).then(val)
    return expr.otherwise(pl.lit(None, dtype=dtype))


def split_by_rules(df: pl.DataFrame, rules: list[Rule], *, stage: str) -> StageResult:
    """Split ``df`` by ``rules`` in one pass; removed rows carry stage, reason, value, threshold."""
    if not rules or df.height == 0:
        return StageResult(
            kept=df, removed=mark_removed(df.clear(), stage=stage, reason=""), kept_rows=np.arange(df.height)
        )
    tagged = df.with_columns(
        _chain(rules, "reason", pl.Utf8()).alias("__reason"),
        _chain(rules, "value", pl.Float64()).alias("__value"),
        _chain(rules, "threshold", pl.Utf8()).alias("__threshold"),
    )
    hit = pl.col("__reason").is_not_null()
    keep = tagged.get_column("__reason").is_null()
    kept = tagged.filter(keep).drop("__reason", "__value", "__threshold")
    removed = (
        tagged.filter(hit)
        .with_columns(
            pl.lit(stage).alias("stage"),
            pl.col("__reason").alias("reason"),
            pl.col("__value").alias("value"),
            pl.col("__threshold").alias("threshold"),
            pl.lit(None, dtype=pl.Utf8).alias("dup_of"),
        )
        .drop("__reason", "__value", "__threshold")
    )
    return StageResult(kept=kept, removed=removed, kept_rows=keep.arg_true().to_numpy())


def mark_removed(
    df: pl.DataFrame,
    *,
    stage: str,
    reason: str | pl.Expr,
    value: float | pl.Expr | None = None,
    threshold: float | str | None = None,
    dup_of: str | pl.Expr | None = None,
) -> pl.DataFrame:
    """Attach the removal ledger columns to rows a global stage drops."""

    def lit(v: Any, dt: pl.DataType) -> pl.Expr:
        return v.cast(dt) if isinstance(v, pl.Expr) else pl.lit(v, dtype=dt)

    return df.with_columns(
        pl.lit(stage, dtype=pl.Utf8).alias("stage"),
        lit(reason, pl.Utf8()).alias("reason"),
        lit(value, pl.Float64()).alias("value"),
        lit(None if threshold is None else str(threshold), pl.Utf8()).alias("threshold"),
        lit(dup_of, pl.Utf8()).alias("dup_of"),
    )


def removed_frame_schema() -> dict[str, pl.DataType]:
    """The ledger columns every removed table carries."""
    return dict(REMOVED_SCHEMA)
