"""``cap.per_task`` and ``cap.total``: bound how many rows a task, or the whole set, contributes.

Both down-sample only (never repeat rows) through the shared allocator, picking the best rows by a
score column when one is named and uniformly at random (seeded) otherwise.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult
from curate.stages.mix.allocate import (
    NULL_GROUP,
    Plan,
    allocation_columns,
    group_units,
    plan_copies,
    take_copies,
)
from curate.stages.mix.report import MEASURES, merge_groups


def cap_groups(
    df: pl.DataFrame,
    *,
    by: str,
    max_rows: int,
    seed: int,
    score: str | None = None,
    descending: bool = True,
    cap_missing: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame, list[dict[str, Any]]]:
    """Keep at most ``max_rows`` rows per value of ``by``: ``(kept, dropped, per-group stats)``.

    Rows whose ``by`` is null form one group that is capped only when ``cap_missing`` is set, because
    "no label" is not one task and capping it would silently discard unlabelled data.
    """
    copies, groups = cap_plan(
        df.select(allocation_columns(by=by, unit_col=None, order_by=score)),
        max_rows=max_rows,
        seed=seed,
        score=score,
        descending=descending,
        cap_missing=cap_missing,
    )
    kept, dropped, _ = take_copies(df, copies, tag=False)
    return kept, dropped, groups


def cap_plan(
    work: pl.DataFrame,
    *,
    max_rows: int,
    seed: int,
    score: str | None = None,
    descending: bool = True,
    cap_missing: bool = False,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """``cap_groups``' decision from its narrow columns (``allocation_columns``): 0/1 per row."""
    sizes = group_units(work, by="__g", unit_col=None)
    targets = {g: float(max_rows) for g in sizes if cap_missing or g != NULL_GROUP}
    return plan_copies(work, targets=targets, max_copies=1, seed=seed, order_by=score, descending=descending)


def largest_remainder(sizes: dict[str, float], total: int) -> dict[str, float]:
    """Integer quotas summing to ``total`` in proportion to ``sizes`` (Hamilton's method).

    >>> largest_remainder({"a": 2, "b": 1}, 4)
    {'a': 3.0, 'b': 1.0}
    """
    whole = sum(sizes.values())
    if whole <= 0:
        return {g: 0.0 for g in sizes}
    raw = {g: total * n / whole for g, n in sizes.items()}
    quota = {g: math.floor(v) for g, v in raw.items()}
    left = total - sum(quota.values())
    for g in sorted(raw, key=lambda k: raw[k] - quota[k], reverse=True)[:left]:
        quota[g] += 1
    return {g: float(v) for g, v in quota.items()}


class _CapConfig(StageConfig):
    max_rows: int = Field(..., ge=1, description="most rows to keep (per group for cap.per_task)")
    score: str | None = Field(
        None, description="column to rank by, best first; default: seeded random choice"
    )
    score_order: Literal["desc", "asc"] = Field("desc", description="which end of `score` is best")
    seed: int | None = Field(None, description="overrides the recipe seed")


def _check_score(stage: GlobalStage, df: pl.DataFrame | pl.Schema, score: str | None) -> None:
    columns = list(df.columns if isinstance(df, pl.DataFrame) else df.names())
    if score and score not in columns:
        from curate.errors import StageError

        raise StageError(
            f"score column {score!r} not in the table",
            stage=stage.name,
            hint=f"columns: {', '.join(c for c in columns if c.startswith(('score_', 'tag_')))}",
        )


@register("cap.per_task")
class CapPerTask(GlobalStage):
    """Keep at most ``max_rows`` rows per task, so no single task dominates the mixture.

    Instruction-tuning studies find a few hundred varied examples per task teach the format; more of
    one task mostly adds redundancy. Rows are ranked by ``score`` when given (e.g. a quality score),
    else chosen at random with the seed. Removed rows carry reason ``task_cap``. ``by`` may name a
    list column of tags (``tag_intent`` from tag.intent): a row then counts toward its first tag,
    so "a few hundred rows per intent" is ``cap.per_task: {by: tag_intent, max_rows: 300}``.
    """

    class Config(_CapConfig):
        by: str = Field("task", description="column that names the task")
        cap_missing: bool = Field(
            False, description="also cap rows with no task as one group (default: keep them)"
        )

    cfg: Config

    def by_column(self, schema: pl.Schema) -> tuple[str, pl.Expr]:
        """The group column's name and expression: ``by``, or its first tag for a tag list."""
        by = self.cfg.by
        if by in schema and isinstance(schema[by], pl.List):  # a tag list: the first tag (none: null)
            return f"__{by}_first", pl.col(by).list.first().cast(pl.Utf8).alias(f"__{by}_first")
        return by, pl.col(by)

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """What ``plan`` reads per row: the group, the score and the measures the report shows."""
        _check_score(self, schema, self.cfg.score)
        _, by = self.by_column(schema)
        score = [pl.col(self.cfg.score)] if self.cfg.score else []
        return [by, *score, *[pl.col(c) for c in MEASURES if c in schema and c != self.cfg.score]]

    def plan(self, narrow: pl.DataFrame) -> Plan:
        """The cap decided from ``narrow`` columns (a few per row): the same on every executor."""
        first = f"__{self.cfg.by}_first"  # ``narrow`` already holds a tag list's first tag
        by = first if first in narrow.columns else self.by_column(narrow.schema)[0]
        copies, groups = cap_plan(
            narrow.select(allocation_columns(by=by, unit_col=None, order_by=self.cfg.score)),
            max_rows=self.cfg.max_rows,
            seed=self.seed,
            score=self.cfg.score,
            descending=self.cfg.score_order == "desc",
            cap_missing=self.cfg.cap_missing,
        )
        plan = Plan.of(narrow.height, stage=self.name, reasons=["task_cap"])
        plan.mark(np.flatnonzero(copies == 0), reason="task_cap", threshold=self.cfg.max_rows)
        kept = narrow.filter(pl.Series(copies > 0))
        plan.stats = {
            "max_rows": self.cfg.max_rows,
            "groups_total": len(groups),
            "groups_capped": sum(g["rows_out"] < g["rows_in"] for g in groups),
            "rows_in": narrow.height,
            "rows_out": kept.height,
            "groups": merge_groups(groups, kept, by=by),
        }
        return plan

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: streamed (the local runner, ``executors.planned``) or on Ray, the group, score
        and measure columns (tens of bytes a row) and the plan (~20 bytes a row), then one shard or
        block at a time; called on a frame, the table plus those columns."""
        return self.plan(df.select(self.narrow(df.schema))).apply(df)


@register("cap.total")
class CapTotal(GlobalStage):
    """Shrink the whole set to ``max_rows`` rows, keeping each group's share of rows.

    Quotas per group (``by``, default domain) come from Hamilton's largest-remainder method, so they
    sum exactly to ``max_rows`` and no group's share moves by more than one row. Removed rows carry
    reason ``total_cap``.
    """

    class Config(_CapConfig):
        by: str = Field("domain", description="column whose shares are kept: domain, source or task")

    cfg: Config

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """What ``plan`` reads per row: the group, the score and the measures the report shows."""
        _check_score(self, schema, self.cfg.score)
        by, score = self.cfg.by, self.cfg.score
        if by not in schema:
            from curate.errors import StageError

            raise StageError(f"group column {by!r} not in the table", stage=self.name, hint="by: domain")
        rest = [pl.col(c) for c in MEASURES if c in schema and c not in (by, score)]
        return [pl.col(by), *([pl.col(score)] if score and score != by else []), *rest]

    def plan(self, narrow: pl.DataFrame) -> Plan:
        """Quotas from the group sizes, then which rows, decided from ``narrow`` columns."""
        by, n_in = self.cfg.by, narrow.height
        sizes = group_units(narrow, by=by, unit_col=None)
        quotas = largest_remainder(sizes, min(self.cfg.max_rows, n_in))
        copies, groups = plan_copies(
            narrow.select(allocation_columns(by=by, unit_col=None, order_by=self.cfg.score)),
            targets=quotas,
            max_copies=1,
            seed=self.seed,
            order_by=self.cfg.score,
            descending=self.cfg.score_order == "desc",
        )
        plan = Plan.of(n_in, stage=self.name, reasons=["total_cap"])
        plan.mark(np.flatnonzero(copies == 0), reason="total_cap", threshold=self.cfg.max_rows)
        kept = narrow.filter(pl.Series(copies > 0))
        shares = {g: v / n_in for g, v in sizes.items()} if n_in else {}
        plan.stats = {
            "max_rows": self.cfg.max_rows,
            "rows_in": n_in,
            "rows_out": kept.height,
            "groups": merge_groups(groups, kept, by=by, target_shares=shares),
        }
        return plan

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: streamed (the local runner, ``executors.planned``) or on Ray, the group, score
        and measure columns (tens of bytes a row) and the plan (~20 bytes a row), then one shard or
        block at a time; called on a frame, the table plus those columns."""
        return self.plan(df.select(self.narrow(df.schema))).apply(df)
