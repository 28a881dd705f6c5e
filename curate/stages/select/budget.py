"""Budgets and groups shared by the select.* stages: ``n`` or ``fraction``, global or per group."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.errors import StageError
from curate.pipeline.stage import StageConfig


class BudgetConfig(StageConfig):
    """How many rows to keep: ``n`` or ``fraction`` (of each group when ``by`` is set)."""

    n: int | None = Field(None, ge=0, description="rows to keep (per group when `by` is set)")
    fraction: float | None = Field(None, gt=0, le=1, description="share of rows to keep (per group)")
    by: str | None = Field(None, description="group column (domain, task, cluster...); default: global")

    @model_validator(mode="after")
    def _one_budget(self) -> BudgetConfig:
        if self.n is not None and self.fraction is not None:
            raise ValueError("give n or fraction, not both")
        return self

    def budget(self, size: int) -> int | None:
        """Rows to keep from a group of ``size`` rows (None: no budget)."""
        if self.n is not None:
            return min(self.n, size)
        if self.fraction is not None:
            return min(size, math.ceil(self.fraction * size))
        return None


def groups_of(gid: np.ndarray) -> list[np.ndarray]:
    """Row positions of each group code (``group_codes``), in code order, rows in input order."""
    order = np.argsort(gid, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(gid[order])) + 1)


def group_codes(df: pl.DataFrame, by: str | None, *, stage: str) -> np.ndarray:
    """The group of each row as 0, 1, ... in first-appearance order (all 0 when ``by`` is None)."""
    if by is None:
        return np.zeros(df.height, dtype=np.int64)
    if by not in df.columns:
        raise StageError(f"group column {by!r} is not in the table", stage=stage, hint="set by: null")
    codes = df[by].cast(pl.Utf8).fill_null("\0null").to_numpy()
    _, first, inv = np.unique(codes, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inv.ravel()]


def priority(
    df: pl.DataFrame, score: str | None, *, descending: bool, seed: int | None, stage: str
) -> np.ndarray:
    """Walk order: by ``score`` (best first, nulls last, ties by input order), else a seeded shuffle
    when ``seed`` is given, else input order."""
    n = df.height
    if score is not None:
        if score not in df.columns:
            raise StageError(f"score column {score!r} is not in the table", stage=stage)
        key = df[score].cast(pl.Float64).fill_nan(None)
        key = -key if descending else key
        return pl.DataFrame({"k": key, "i": np.arange(n)}).sort(["k", "i"], nulls_last=True)["i"].to_numpy()
    if seed is not None:
        return np.random.default_rng(seed).permutation(n)
    return np.arange(n)
