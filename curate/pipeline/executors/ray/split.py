"""``split`` on Ray: the near-duplicate leak check distributed, then the planned split.

1. The leak check is ``near_duplicate_groups`` (character 5-gram MinHash, exact Jaccard verified,
   connected components named by their smallest row). It is ``dedup.minhash``'s algorithm with
   ``Split.near_check``'s settings, so it runs as ``dedup_minhash`` runs it: signatures and band
   keys per block, pairs per bucket, Jaccard by co-partitioned shuffles, components by label
   propagation. No pair list and no text comes to the driver: only the (row, smallest row) pair
   of each row that has a near copy.
2. The planned split (``planned``): per row the id, a hash of the normalized text, the stratum
   come to the driver; ``Split.plan_with`` picks the eval groups there, and each block is split.

Memory on the driver: ~40 bytes a row (id, text hash, stratum, near group) and the plan.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from curate.pipeline.executors.ray.dedup_minhash import apply_minhash
from curate.pipeline.executors.ray.planned import apply_planned
from curate.pipeline.registry import get
from curate.pipeline.stage import StageContext, StageResult


class _LeakCheck:
    """``dedup.minhash`` with ``split``'s texts, position as survivor rank and no scopes; its
    ``split`` returns the decision instead of cutting the table."""

    def __init__(self, stage: Any) -> None:
        self.inner = get("dedup.minhash")(
            stage.near_check(), ctx=StageContext(seed=stage.ctx.seed, workers=1)
        )
        self.text = stage.leak_text()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "inner":  # unpickling looks before __dict__ is set
            raise AttributeError(name)
        return getattr(self.inner, name)

    def texts(self, b: pl.DataFrame) -> pl.Series:
        return b.select(self.text).to_series()

    def rank(self, df: pl.DataFrame) -> np.ndarray:
        return np.arange(df.height, dtype=np.int64)

    def groups(self, df: pl.DataFrame) -> np.ndarray:
        return np.zeros(df.height, dtype=np.int64)

    def split(self, df: pl.DataFrame, dup: np.ndarray, surv: np.ndarray, sim: Any, stats: dict) -> Any:
        return dup, surv


class _Decided:
    """``split`` with its near groups known: narrow columns without the text, ``plan_with`` to plan."""

    def __init__(self, stage: Any, near: np.ndarray) -> None:
        self.stage, self.near = stage, near

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "stage":  # unpickling looks before __dict__ is set
            raise AttributeError(name)
        return getattr(self.stage, name)

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        s = self.stage
        return [pl.col("id"), s.leak_text().hash().alias("__leak"), s.stratum().alias("__stratum")]

    def plan(self, narrow: pl.DataFrame) -> Any:
        return self.stage.plan_with(narrow, self.near)


def near_groups(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> np.ndarray:
    """``near_duplicate_groups`` of the rows' leak texts, computed on Ray."""
    dup, surv = apply_minhash(_LeakCheck(stage), df, blocks=blocks, parts=parts)
    near = np.arange(df.height, dtype=np.int64)
    near[np.asarray(dup, dtype=np.int64)] = np.asarray(surv, dtype=np.int64)
    return near


def apply_split(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """The stage's result, identical to ``stage.apply(df)``."""
    if stage.cfg.leak_check != "near" or df.height < 2:
        return apply_planned(stage, df, blocks=blocks, parts=parts)
    near = near_groups(stage, df, blocks=blocks, parts=parts)
    return apply_planned(_Decided(stage, near), df, blocks=blocks, parts=parts)
