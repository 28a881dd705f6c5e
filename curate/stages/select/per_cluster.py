"""``select.per_cluster``: even coverage of the clusters ``tag.clusters`` found."""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.errors import StageError
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult
from curate.stages.mix.allocate import Plan


def proportional(sizes: np.ndarray, total: int, cap: int | None) -> np.ndarray:
    """Quotas proportional to ``sizes`` summing to ``min(total, capacity)``, each <= ``cap``.

    Largest remainders within each round; what a capped cluster cannot take is handed to the
    others in the next round (water-filling), so the total is met whenever the caps allow it.

    >>> proportional(np.array([90, 9, 1]), 10, 4).tolist()
    [4, 5, 1]
    """
    limit = np.minimum(sizes, cap if cap is not None else sizes.max(initial=0))
    quota = np.zeros(len(sizes), dtype=np.int64)
    left = min(total, int(limit.sum()))
    while left > 0:
        room = limit - quota
        open_ = room > 0
        raw = left * sizes * open_ / max((sizes * open_).sum(), 1)
        add = np.minimum(np.floor(raw).astype(np.int64), room)
        rest = left - add.sum()
        frac = np.where(open_ & (add < room), raw - np.floor(raw), -1.0)
        for i in np.argsort(-frac, kind="stable")[: max(rest, 0)]:
            if frac[i] >= 0:
                add[i] += 1
        if add.sum() == 0:
            break
        quota += add
        left -= int(add.sum())
    return quota


@register("select.per_cluster")
class PerClusterSelect(GlobalStage):
    """Keep ``n`` rows from every cluster, or ``total`` rows shared in proportion to cluster size with
    at most ``max_per_cluster`` from one, so a big cluster of near-identical prompts cannot crowd
    out the rare ones. Rows are ranked by ``score`` (best first) or drawn at random with the seed.
    Needs the ``cluster`` column (run ``tag.clusters`` first). Removed: ``cluster_quota``.
    """

    class Config(StageConfig):
        by: str = Field("cluster", description="cluster column")
        n: int | None = Field(None, ge=1, description="rows per cluster")
        total: int | None = Field(None, ge=1, description="rows in all, proportional to cluster size")
        max_per_cluster: int | None = Field(None, ge=1, description="cap per cluster with total")
        score: str | None = Field(None, description="rank rows by this column; default seeded random")
        score_order: Literal["desc", "asc"] = Field("desc", description="which end of score is best")
        seed: int | None = Field(None, description="overrides the recipe seed")

        @model_validator(mode="after")
        def _one(self) -> PerClusterSelect.Config:
            if (self.n is None) == (self.total is None):
                raise ValueError("give exactly one of n (per cluster) or total (proportional)")
            return self

    cfg: Config

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """What ``plan`` reads per row: the cluster and the score."""
        cfg = self.cfg
        for col in (cfg.by, cfg.score):
            if col and col not in schema:
                hint = "run tag.clusters first" if col == cfg.by else "name a score_* column"
                raise StageError(f"column {col!r} is missing", stage=self.name, hint=hint)
        return [pl.col(c) for c in dict.fromkeys([cfg.by, *([cfg.score] if cfg.score else [])])]

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: streamed (the local runner, ``executors.planned``) or on Ray, the cluster and
        score columns (~16 bytes a row) and the plan (~20 bytes a row), then one shard or block at
        a time; called on a frame, the table plus those columns."""
        return self.plan(df.select(self.narrow(df.schema))).apply(df)

    def plan(self, df: pl.DataFrame) -> Plan:
        """Quotas per cluster, then the best (or random) rows of each, from the narrow columns."""
        cfg = self.cfg
        seed = self.seed
        sizes_df = df.group_by(cfg.by).len().sort(cfg.by, nulls_last=True)
        sizes = sizes_df["len"].to_numpy()
        if cfg.n is not None:
            quota = np.minimum(sizes, cfg.n)
        else:
            quota = proportional(sizes, cfg.total or 0, cfg.max_per_cluster)
        quotas = sizes_df.select(cfg.by, pl.Series("__q", quota))
        if cfg.score:
            key = pl.col(cfg.score).cast(pl.Float64)
            key = -key if cfg.score_order == "desc" else key
        else:
            key = pl.Series("__k", np.random.default_rng(seed).random(df.height))
        ranked = (
            df.with_row_index("__i")
            .with_columns(__k=key)
            .join(quotas, on=cfg.by, how="left", nulls_equal=True)
        )
        ranked = (
            ranked.sort(["__k", "__i"], nulls_last=True)
            .with_columns(__r=pl.int_range(pl.len()).over(cfg.by))
            .sort("__i")
        )
        keep = (ranked["__r"] < ranked["__q"]).to_numpy()
        plan = Plan.of(df.height, stage=self.name, reasons=["cluster_quota"])
        plan.mark(np.flatnonzero(~keep), reason="cluster_quota")
        plan.stats = {
            "rows_in": df.height,
            "rows_out": int(keep.sum()),
            "quotas": [
                {"cluster": c, "rows": int(s), "kept": int(q)}
                for c, s, q in zip(sizes_df[cfg.by].to_list(), sizes, quota, strict=True)
            ],
        }
        return plan
