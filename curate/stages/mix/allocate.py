"""The sampling engine behind every mixing stage: hit a target amount per group, seeded.

Each group (a domain, source or task) has rows with a weight in the chosen unit (1 per example, or a
token count) and a target amount in that unit. A group over its target is down-sampled *without*
replacement; a group under it is up-sampled by whole passes over its rows plus one random partial
pass, never past ``max_copies`` appearances of any row. Whole passes rather than i.i.d. draws with
replacement keep every row equally represented (lower variance at the same cost) and make the cap
exact. A target that needs more than ``max_copies`` passes cannot be met and is reported as such.

Rows are taken in a seeded random order (or by a score column, best first) and a row is taken when
the midpoint of its weight interval falls below the target, so the achieved amount is within half
a row of the target: exact for examples, within one row's tokens for token units.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import xxhash

NULL_GROUP = "(none)"


@dataclass
class Allocation:
    """Rows kept (originals first, then repeats tagged by ``score_copy``), rows dropped, stats."""

    kept: pl.DataFrame
    dropped: pl.DataFrame
    added: int
    groups: list[dict[str, Any]] = field(default_factory=list)


def group_expr(by: str) -> pl.Expr:
    """The group label of each row: ``by`` as text, nulls as ``(none)``."""
    return pl.col(by).cast(pl.Utf8).fill_null(NULL_GROUP)


def group_units(df: pl.DataFrame, *, by: str, unit_col: str | None) -> dict[str, float]:
    """Total amount per group in the unit (rows when ``unit_col`` is None), in first-seen order."""
    total = pl.col(unit_col).fill_null(0).cast(pl.Float64).sum() if unit_col else pl.len().cast(pl.Float64)
    agg = df.group_by(group_expr(by).alias("g"), maintain_order=True).agg(total.alias("u"))
    return dict(zip(agg["g"].to_list(), agg["u"].to_list(), strict=True))


def take_closest(weights: np.ndarray, target: float) -> np.ndarray:
    """Boolean mask over rows (already in pick order) whose weights sum closest to ``target``.

    The prefix whose midpoints fall below the target is taken at once; then later rows that still
    shrink the gap fill it, so a few long rows near the end do not leave the target far off.
    """
    mask = np.zeros(len(weights), dtype=bool)
    if target <= 0 or len(weights) == 0:
        return mask
    cum = np.cumsum(weights)
    k = int(((cum - weights / 2) < target).sum())  # monotone, so this is a prefix
    mask[:k] = True
    got = float(cum[k - 1]) if k else 0.0
    if k < len(weights) and target - got > float(weights[k:].min()) / 2:
        for j in range(k, len(weights)):
            if got + weights[j] / 2 < target:
                mask[j] = True
                got += float(weights[j])
                if got >= target:
                    break
    return mask


def group_rng(seed: int, name: str) -> np.random.Generator:
    # one stream per group, so adding a source does not reshuffle the others
    return np.random.default_rng([seed, xxhash.xxh32_intdigest(name.encode("utf-8"))])


def allocate(
    df: pl.DataFrame,
    *,
    by: str,
    targets: Mapping[str, float],
    unit_col: str | None,
    max_copies: int,
    seed: int,
    order_by: str | None = None,
    descending: bool = True,
) -> Allocation:
    """Sample each group of ``df`` (grouped by ``by``) to ``targets[group]`` units.

    Kept rows gain ``score_copy`` (0 for the original, k for its k-th repeat) unless ``max_copies``
    is 1. Groups absent from ``targets`` are kept whole. ``order_by`` picks rows best-first by a score
    column instead of at random (nulls last, ties in input order).
    """
    idx = df.with_row_index("__i")
    w = pl.col(unit_col).fill_null(0).cast(pl.Float64) if unit_col else pl.lit(1.0, dtype=pl.Float64)
    work = idx.with_columns(group_expr(by).alias("__g"), w.alias("__w"))
    copies = np.zeros(df.height, dtype=np.int64)
    groups: list[dict[str, Any]] = []
    for (name,), part in work.group_by("__g", maintain_order=True):
        name = str(name)
        if order_by:
            part = part.sort([order_by, "__i"], descending=[descending, False], nulls_last=True)
        else:
            part = part[group_rng(seed, name).permutation(part.height)]
        wts = part["__w"].to_numpy()
        rows = part["__i"].to_numpy()
        total = float(wts.sum())
        target = float(targets.get(name, total))
        if total <= 0:
            got = np.ones(len(rows), dtype=np.int64)
        elif target < total:
            got = take_closest(wts, target).astype(np.int64)
        else:
            full = min(max_copies, math.floor(target / total + 1e-9))
            got = np.full(len(rows), full, dtype=np.int64)
            if full < max_copies:
                got += take_closest(wts, target - full * total)
        copies[rows] = got
        units_out = float((wts * got).sum())
        groups.append(
            {
                "group": name,
                "rows_in": int(part.height),
                "units_in": round(total, 2),
                "units_target": round(target, 2),
                "rows_out": int(got.sum()),
                "units_out": round(units_out, 2),
                "repeats": int(np.maximum(got - 1, 0).sum()),
                "max_copies_used": int(got.max()) if len(got) else 0,
                "met": bool(total <= 0 or target <= max_copies * total + 1e-9),
            }
        )
    c = pl.Series("__c", copies)
    marked = idx.with_columns(c)
    prior = pl.col("score_copy").cast(pl.Int64).fill_null(0) if "score_copy" in df.columns else pl.lit(0)
    originals = marked.filter(pl.col("__c") >= 1).with_columns(prior.cast(pl.Int64).alias("score_copy"))
    repeats = (
        marked.filter(pl.col("__c") >= 2)
        .with_columns(pl.int_ranges(1, pl.col("__c"), dtype=pl.Int64).alias("score_copy"))
        .explode("score_copy")
    )
    kept = pl.concat([originals, repeats]).sort("__i", "score_copy").drop("__i", "__c")
    if max_copies == 1 and "score_copy" not in df.columns:
        kept = kept.drop("score_copy")  # a pure down-sample has no copies to tag
    dropped = marked.filter(pl.col("__c") == 0).drop("__i", "__c")
    return Allocation(kept=kept, dropped=dropped, added=repeats.height, groups=groups)
