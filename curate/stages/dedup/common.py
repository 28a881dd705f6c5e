"""What exact and near dedup share: the survivor rule and the scope (normalization: ``text.normalize``).

Both dedup stages keep one row per group and remove the rest with ``dup_of`` naming the survivor.
Which row survives is a stated rule, never an accident of hashing: ``first`` (input order),
``longest`` (most characters of the deduplicated field) or the name of a ``score_*`` column
(highest wins). Ties always fall back to input order, so a run is deterministic.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl

from curate.errors import StageError
from curate.fields import field_text
from curate.pipeline.stage import StageResult, mark_removed

Scope = Literal["global", "per_source"]


def check_keep(keep: str) -> str:
    """Validate a survivor rule: ``first``, ``longest`` or a ``score_*`` column name."""
    if keep in ("first", "longest") or keep.startswith("score_"):
        return keep
    raise ValueError(f"keep must be 'first', 'longest' or a score_* column, got {keep!r}")


def survivor_rank(df: pl.DataFrame, text: pl.Series, *, keep: str, stage: str) -> np.ndarray:
    """Rank of every row as a survivor (0 = best); ties broken by input order.

    ``text`` is the deduplicated field (for ``longest``). A ``score_*`` column that is missing is a
    StageError naming the column; null scores rank last.
    """
    if keep == "first":
        return np.arange(df.height, dtype=np.int64)
    if keep == "longest":
        return rank_by(-text.str.len_chars().fill_null(0).cast(pl.Int64))
    check_column(df.columns, keep, stage)
    return rank_by(-df[keep].cast(pl.Float64).fill_nan(None))


def survivor_key(keep: str, field: Any) -> pl.Expr | None:
    """The per-row expression ``survivor_rank`` orders by (ascending), None for ``first``: what a
    sharded run reads as one narrow column (``rank_by`` then ranks it)."""
    if keep == "first":
        return None
    if keep == "longest":
        return -field_text(field).str.len_chars().fill_null(0).cast(pl.Int64)
    return -pl.col(keep).cast(pl.Float64).fill_nan(None)


def check_column(columns: Any, keep: str, stage: str) -> None:
    if keep not in columns:
        raise StageError(
            f"survivor column {keep!r} is not in the table",
            stage=stage,
            hint="run the stage that writes it first, or use keep: first|longest",
        )


def rank_by(key: pl.Series) -> np.ndarray:
    """Rank of each row by ``key`` ascending, nulls last, ties by position."""
    n = key.len()
    order = pl.DataFrame({"k": key, "i": np.arange(n)}).sort(["k", "i"], nulls_last=True)["i"].to_numpy()
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank


def source_codes(df: pl.DataFrame, scope: Scope) -> np.ndarray:
    """Small integer per source under ``per_source`` (all zeros under ``global``)."""
    if scope == "global" or "source" not in df.columns:
        return np.zeros(df.height, dtype=np.int64)
    return codes_of(df["source"])


def codes_of(source: pl.Series) -> np.ndarray:
    """``source_codes`` of a source column."""
    return source.fill_null("").rank("dense").to_numpy().astype(np.int64)


def split_duplicates(
    df: pl.DataFrame,
    rows: np.ndarray,
    survivors: np.ndarray,
    *,
    stage: str,
    reason: str,
    value: float | pl.Expr,
    threshold: float | None = None,
    stats: dict | None = None,
) -> StageResult:
    """Remove ``df[rows]`` (sorted row numbers), each with ``dup_of`` = the id of its survivor row."""
    mask = np.zeros(df.height, dtype=bool)
    mask[rows] = True
    removed = mark_removed(
        df[rows],
        stage=stage,
        reason=reason,
        value=value,
        threshold=threshold,
        dup_of=pl.lit(df["id"].gather(survivors)),
    )
    return StageResult(kept=df.filter(pl.Series(~mask)), removed=removed, stats=stats or {})
