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

from curate.pipeline.stage import StageResult, mark_removed

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


def allocation_columns(*, by: str, unit_col: str | None, order_by: str | None = None) -> list[pl.Expr]:
    """The narrow columns ``plan_copies`` reads: group label ``__g``, weight ``__w`` (and ``order_by``)."""
    w = pl.col(unit_col).fill_null(0).cast(pl.Float64) if unit_col else pl.lit(1.0, dtype=pl.Float64)
    cols = [group_expr(by).alias("__g"), w.alias("__w")]
    return [*cols, pl.col(order_by)] if order_by else cols


def plan_copies(
    work: pl.DataFrame,
    *,
    targets: Mapping[str, float],
    max_copies: int,
    seed: int,
    order_by: str | None = None,
    descending: bool = True,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """How many times each row of ``work`` (``allocation_columns``, one row per input row, in input
    order) appears in the output (0 = dropped), and per-group stats. The one allocation decision:
    ``allocate`` runs it on a whole table, the Ray executor on the narrow columns it collected.
    Memory: the narrow columns (~20 bytes a row) and one int64 per row."""
    work = work.with_row_index("__i")
    copies = np.zeros(work.height, dtype=np.int64)
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
    return copies, groups


def take_copies(df: pl.DataFrame, copies: np.ndarray, *, tag: bool) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """``(kept, dropped, repeats)``: each row of ``df`` ``copies`` times, in input order with its
    repeats after it (tagged ``score_copy``, kept only when ``tag`` or ``df`` already has one)."""
    idx = df.with_row_index("__i")
    marked = idx.with_columns(pl.Series("__c", copies, dtype=pl.Int64))
    prior = pl.col("score_copy").cast(pl.Int64).fill_null(0) if "score_copy" in df.columns else pl.lit(0)
    originals = marked.filter(pl.col("__c") >= 1).with_columns(prior.cast(pl.Int64).alias("score_copy"))
    repeats = (
        marked.filter(pl.col("__c") >= 2)
        .with_columns(pl.int_ranges(1, pl.col("__c"), dtype=pl.Int64).alias("score_copy"))
        .explode("score_copy")
    )
    if repeats.height:
        kept = pl.concat([originals, repeats]).sort("__i", "score_copy").drop("__i", "__c")
    else:  # already in input order: no second copy of the rows for a sort (a down-sample or a cap)
        kept = originals.drop("__i", "__c")
    if not tag and "score_copy" not in df.columns:
        kept = kept.drop("score_copy")  # a pure down-sample has no copies to tag
    dropped = marked.filter(pl.col("__c") == 0).drop("__i", "__c")
    return kept, dropped, repeats.height


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
    work = df.select(allocation_columns(by=by, unit_col=unit_col, order_by=order_by))
    copies, groups = plan_copies(
        work, targets=targets, max_copies=max_copies, seed=seed, order_by=order_by, descending=descending
    )
    kept, dropped, added = take_copies(df, copies, tag=max_copies > 1)
    return Allocation(kept=kept, dropped=dropped, added=added, groups=groups)


@dataclass
class Plan:
    """What a planned global stage decided from narrow columns, one row of ``rows`` per input row:
    ``copies`` (0 = leaves the main flow), ``reason`` (removed; ``value``/``threshold`` beside it)
    or ``side`` (the side output it goes to). Both executors carry it out the same way: locally on
    the whole table, on Ray per block (``carry_out`` with the block's rows of ``rows``), then
    ``finish`` on the merged result. ``reasons`` orders the removed ledger (input order within)."""

    rows: pl.DataFrame
    stage: str
    reasons: list[str]
    tag_copies: bool = False
    sides: list[str] = field(default_factory=list)  # side outputs present even when empty
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, n: int, *, stage: str, reasons: list[str], **kw: Any) -> Plan:
        """Every row kept once; a stage then marks its decisions with ``mark``."""
        rows = pl.DataFrame(
            {
                "copies": np.ones(n, dtype=np.int64),
                "reason": pl.Series([None] * n, dtype=pl.Utf8),
                "value": pl.Series([None] * n, dtype=pl.Float64),
                "threshold": pl.Series([None] * n, dtype=pl.Utf8),
                "side": pl.Series([None] * n, dtype=pl.Utf8),
            }
        )
        return cls(rows=rows, stage=stage, reasons=reasons, **kw)

    def aside(self, where: np.ndarray, *, side: str) -> None:
        """Send rows ``where`` (positions) to the side output ``side``."""
        m = pl.Series(np.isin(np.arange(self.rows.height), where))
        self.rows = self.rows.with_columns(
            copies=pl.when(m).then(0).otherwise(pl.col("copies")),
            side=pl.when(m).then(pl.lit(side)).otherwise(pl.col("side")),
        )

    def mark(self, where: np.ndarray, *, reason: str, threshold: Any = None) -> None:
        """Remove rows ``where`` (positions) with ``reason``."""
        m = pl.Series(np.isin(np.arange(self.rows.height), where))
        thr = None if threshold is None else str(threshold)
        self.rows = self.rows.with_columns(
            copies=pl.when(m).then(0).otherwise(pl.col("copies")),
            reason=pl.when(m).then(pl.lit(reason)).otherwise(pl.col("reason")),
            threshold=pl.when(m).then(pl.lit(thr, dtype=pl.Utf8)).otherwise(pl.col("threshold")),
        )

    def carry_out(self, df: pl.DataFrame, rows: pl.DataFrame) -> StageResult:
        """``df`` (any slice of the input) split by its ``rows``; stats come with ``finish``."""
        kept, _, added = take_copies(df, rows["copies"].to_numpy(), tag=self.tag_copies)
        tmp = ["__reason", "__value", "__thr", "__side"]
        out = df.with_columns(
            rows.select(__reason="reason", __value="value", __thr="threshold", __side="side")
        )
        gone = out.filter(pl.col("__reason").is_not_null())
        removed = mark_removed(
            gone, stage=self.stage, reason=pl.col("__reason"), value=pl.col("__value")
        ).with_columns(threshold=pl.col("__thr"))
        side = {
            str(name): part.drop(tmp)
            for (name,), part in out.filter(pl.col("__side").is_not_null()).group_by(
                "__side", maintain_order=True
            )
        }
        for name in self.sides:
            side.setdefault(name, df.clear())
        return StageResult(kept=kept, removed=removed.drop(tmp), side=side, added=added)

    def finish(self, res: StageResult) -> StageResult:
        """The merged result with the removed ledger in ``reasons`` order, stats and warnings."""
        rm = res.removed
        if rm is not None and rm.height and len(self.reasons) > 1:
            rank = {r: i for i, r in enumerate(self.reasons)}
            key = pl.col("reason").replace_strict(rank, default=len(rank), return_dtype=pl.Int64)
            rm = rm.sort(key, maintain_order=True)
        return StageResult(
            kept=res.kept,
            removed=rm,
            side=res.side,
            added=res.added,
            stats=self.stats,
            warnings=list(self.warnings),
        )

    def apply(self, df: pl.DataFrame) -> StageResult:
        """The whole table at once: what the local executor runs."""
        return self.finish(self.carry_out(df, self.rows))
