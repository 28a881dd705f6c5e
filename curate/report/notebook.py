"""Notebook helpers: stats as polars frames, and threshold what-ifs on score columns.

Scores are columns (STYLE habit 4), so re-thresholding is an expression over a table you already
have: ``suggest_threshold`` picks a cut that keeps a share of rows, ``preview_threshold`` says how
many rows and which ones a cut would remove, without re-running anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

Side = Literal["min", "max"]


class Stats(dict):
    """``curate.stats`` result: the plain dict (``--json`` shape) plus polars views for notebooks."""

    @property
    def lengths(self) -> pl.DataFrame:
        """Characters per field: rows, p5, p50, p95, mean, max."""
        return pl.DataFrame([{"field": f, **v} for f, v in (self.get("lengths") or {}).items()])

    @property
    def counts(self) -> pl.DataFrame:
        """Rows per kind, source, domain and task, long format."""
        rows = [
            {"by": k, "value": v, "rows": n}
            for k in ("kinds", "sources", "domains", "tasks")
            for v, n in (self.get(k) or {}).items()
        ]
        return pl.DataFrame(rows, schema={"by": pl.String, "value": pl.String, "rows": pl.Int64})

    @property
    def funnel(self) -> pl.DataFrame:
        """Per stage of a run: rows in, kept, removed, seconds (empty for a plain table)."""
        return pl.DataFrame(
            [{k: v for k, v in s.items() if k != "reasons"} for s in self.get("funnel") or []]
        )

    def _repr_html_(self) -> str:
        head = (
            f"<p><b>{self.get('rows', 0):,} rows</b> · format {self.get('format')} · "
            f"{self.get('rejects', 0):,} rejected records</p>"
        )
        frames = [self.funnel, self.lengths, self.counts]
        return head + "".join(f._repr_html_() for f in frames if f.height)


def _expr(col: str, value: float, side: Side) -> pl.Expr:
    """True where a row would be removed: below ``value`` for a minimum, above it for a maximum."""
    c = pl.col(col)
    return (c < value) if side == "min" else (c > value)


def suggest_threshold(df: pl.DataFrame, col: str, keep: float = 0.9, *, side: Side = "min") -> float:
    """The cut on ``col`` that keeps about ``keep`` of the rows (nulls are kept, as stages do).

    ``side="min"`` treats the value as a minimum (remove the lowest), ``"max"`` as a maximum.
    """
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], got {keep}")
    # the kept rows are the values at or past the cut: "higher" for a minimum, "lower" for a maximum,
    # so that at most 1 - keep of the rows fall strictly on the removed side
    q, how = (1 - keep, "higher") if side == "min" else (keep, "lower")
    v = df.select(pl.col(col).cast(pl.Float64).quantile(q, how)).item()
    if v is None:
        raise ValueError(f"{col} has no values")
    return float(v)


@dataclass
class ThresholdPreview:
    """What a cut would do: counts and the rows it would remove (lowest/highest first)."""

    column: str
    value: float
    side: Side
    kept: int
    removed: int
    rows: pl.DataFrame

    @property
    def share_removed(self) -> float:
        return self.removed / max(self.kept + self.removed, 1)

    def __repr__(self) -> str:
        op = "<" if self.side == "min" else ">"
        return (
            f"{self.column} {op} {self.value:g} removes {self.removed:,} of {self.kept + self.removed:,} "
            f"rows ({self.share_removed:.1%})"
        )

    def _repr_html_(self) -> str:
        return f"<p>{self!r}</p>" + self.rows.head(10)._repr_html_()


def preview_threshold(
    df: pl.DataFrame, col: str, value: float, *, side: Side = "min", show: list[str] | None = None
) -> ThresholdPreview:
    """How many rows (and which) a cut at ``value`` on ``col`` would remove; nothing is changed."""
    gone = df.filter(_expr(col, value, side).fill_null(False))
    gone = gone.sort(col, descending=side == "max")
    cols = show or [c for c in ("id", "origin", col) if c in df.columns]
    if "messages" in df.columns and show is None:
        from curate.report.explore import preview

        gone = gone.with_columns(preview(chars=160))
        cols.append("preview")
    return ThresholdPreview(col, float(value), side, df.height - gone.height, gone.height, gone.select(cols))
