"""Keep rows by a score column: a range, then the top n or top fraction, globally or per group.

Shared by ``select.top`` and ``select.ifd``. The decision reads only the score and group columns
(``select_plan`` -> ``mix.allocate.Plan``), so on Ray it is made from those and carried out per
block. Pure polars: a rank over the score (``over`` the group)
and two comparisons, so it costs milliseconds on a million rows. Ties are broken by table order,
which the runner keeps stable, so a re-run keeps the same rows.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from curate.pipeline.stage import StageConfig, StageResult
from curate.stages.mix.allocate import Plan


class Keep(StageConfig):
    """Which rows to keep, by ``score``: shared knobs of the ``select.*`` stages."""

    order: Literal["desc", "asc"] = Field("desc", description="which end of the score is best")
    min: float | None = Field(None, description="remove rows whose score is below this")
    max: float | None = Field(None, description="remove rows whose score is this or above (exclusive)")
    top_n: int | None = Field(None, ge=0, description="then keep the best n rows (per group with `by`)")
    top_fraction: float | None = Field(
        None, gt=0, le=1, description="then keep the best fraction of each group's input rows"
    )
    by: str | None = Field(None, description="column to select within (e.g. task); default: global")
    keep_unscored: bool = Field(False, description="keep rows with no score (default: remove, no_score)")
    where: dict[str, Any] | None = Field(
        None,
        description="select only among rows whose columns have these values (a value or a list), "
        "e.g. {source: lawbench}; the other rows pass through untouched and uncounted",
    )

    @model_validator(mode="after")
    def _one_top(self) -> Keep:
        if self.top_n is not None and self.top_fraction is not None:
            raise ValueError("give top_n or top_fraction, not both")
        return self


def keep_columns(score: str, keep: Keep) -> list[str]:
    """The narrow columns ``select_plan`` reads: the score, the group column and ``where``'s."""
    return list(dict.fromkeys([score, *([keep.by] if keep.by else []), *(keep.where or {})]))


def check_where(keep: Keep, schema: pl.Schema, stage: str) -> None:
    """A clear error for a ``where`` column the table does not have."""
    missing = [c for c in keep.where or {} if c not in schema]
    if missing:
        from curate.errors import StageError

        raise StageError(
            f"where: column {missing[0]!r} not in the table",
            stage=stage,
            hint="columns: " + ", ".join(schema),
        )


def in_scope(keep: Keep) -> pl.Expr:
    """True for the rows ``keep.where`` selects among (every row when it is unset)."""
    out = pl.lit(True)
    for col, want in (keep.where or {}).items():
        values = want if isinstance(want, list) else [want]
        out = out & pl.col(col).is_in(values).fill_null(False)
    return out


def select_rows(df: pl.DataFrame, score: str, keep: Keep, *, stage: str) -> StageResult:
    """Split ``df`` by ``keep`` on column ``score``; removed rows carry the score and the threshold.

    Reasons: ``no_score`` (null or NaN), ``below_min``, ``above_max``, ``not_top`` (threshold: the
    lowest score kept in the row's group, i.e. the cut a re-run would need). The decision reads
    only the score and group columns (``select_plan``), so the Ray executor makes it from those.
    """
    return select_plan(df.select(keep_columns(score, keep)), score, keep, stage=stage).apply(df)


def select_plan(narrow: pl.DataFrame, score: str, keep: Keep, *, stage: str) -> Plan:
    """``select_rows``' decision from its narrow columns (``keep_columns``), one row per input row.
    Memory: the score and group columns and a few helper columns (~40 bytes a row)."""
    s = pl.col(score)
    inside = pl.col("__in")
    missing = inside & (s.is_null() | s.is_nan())
    group = pl.col(keep.by) if keep.by else pl.lit(0)
    t = narrow.with_row_index("__i").with_columns(__g=group, __in=in_scope(keep))
    t = t.with_columns(__n=inside.sum().over("__g"))
    reason = (
        pl.when(~inside)
        .then(pl.lit(None, dtype=pl.Utf8))
        .when(missing & (not keep.keep_unscored))
        .then(pl.lit("no_score"))
        .when(~missing & (s < keep.min) if keep.min is not None else pl.lit(False))
        .then(pl.lit("below_min"))
        .when(~missing & (s >= keep.max) if keep.max is not None else pl.lit(False))
        .then(pl.lit("above_max"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )
    t = t.with_columns(__r=reason)
    if keep.top_n is not None or keep.top_fraction is not None:
        live = pl.col("__r").is_null() & inside & ~missing
        key = pl.when(live).then(s if keep.order == "desc" else -s)
        rank = key.rank("ordinal", descending=True).over("__g")
        quota = (
            pl.lit(keep.top_n)
            if keep.top_n is not None
            else (pl.col("__n") * keep.top_fraction).ceil().cast(pl.Int64)
        )
        t = t.with_columns(__rank=rank, __quota=quota)
        t = t.with_columns(
            __r=pl.when(live & (pl.col("__rank") > pl.col("__quota")))
            .then(pl.lit("not_top"))
            .otherwise(pl.col("__r"))
        )
        kept_mask = live & (pl.col("__rank") <= pl.col("__quota"))
        cut = (
            t.filter(kept_mask)
            .group_by("__g")
            .agg((s.min() if keep.order == "desc" else s.max()).alias("__cut"))
        )
        t = t.join(cut, on="__g", how="left")
    else:
        t = t.with_columns(__cut=pl.lit(None, dtype=pl.Float64))
    t = t.sort("__i")
    bounds = {"below_min": keep.min, "above_max": keep.max}
    thr = pl.col("__r").replace_strict(
        {k: str(v) for k, v in bounds.items() if v is not None}, default=None, return_dtype=pl.Utf8
    )
    thr = pl.when(pl.col("__r") == "not_top").then(pl.col("__cut").cast(pl.Utf8)).otherwise(thr)
    plan = Plan.of(narrow.height, stage=stage, reasons=[])  # the ledger stays in input order
    plan.rows = t.select(
        copies=pl.col("__r").is_null().cast(pl.Int64),
        reason=pl.col("__r"),
        value=s.cast(pl.Float64),
        threshold=thr,
        side=pl.lit(None, dtype=pl.Utf8),
    )
    plan.stats = _stats(t, keep)
    return plan


def _stats(t: pl.DataFrame, keep: Keep) -> dict[str, object]:
    counts = t.group_by("__r").len().rows()
    out: dict[str, object] = {"removed_by_reason": {r: n for r, n in counts if r is not None}}
    if keep.where:
        out["passed_outside_where"] = int(t.height - t["__in"].sum())
    if "__cut" in t.columns and keep.by is None and t["__cut"].drop_nulls().len():
        out["cut"] = float(t["__cut"].drop_nulls()[0])
    if keep.top_fraction is not None:
        out["top_fraction"] = keep.top_fraction
        n_in = int(t["__in"].sum())
        out["kept_per_group_max"] = math.ceil(n_in * keep.top_fraction) if keep.by is None else None
    return out
