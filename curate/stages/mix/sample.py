"""``sample.random``: a seeded random subset, for quick experiments and smoke runs."""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult
from curate.stages.mix.allocate import Plan


@register("sample.random")
class RandomSample(GlobalStage):
    """Keep ``n`` rows (or a ``fraction``) chosen uniformly at random with the run's seed.

    Sampling is without replacement and keeps the input order of the survivors, so a later
    ``dedup`` or ``cap`` stage that keeps "the first" stays meaningful. Optional ``by`` samples
    each group (e.g. ``source``) separately with the same n or fraction.
    """

    class Config(StageConfig):
        n: int | None = Field(None, ge=0, description="rows to keep (per group when `by` is set)")
        fraction: float | None = Field(None, gt=0, le=1, description="share of rows to keep")
        by: str | None = Field(None, description="column to sample within, e.g. source or domain")
        seed: int | None = Field(None, description="overrides the recipe seed")

        @model_validator(mode="after")
        def _one(self) -> RandomSample.Config:
            if (self.n is None) == (self.fraction is None):
                raise ValueError("give exactly one of n or fraction")
            return self

    cfg: Config

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """What ``plan`` reads per row: the group column (one byte a row without ``by``)."""
        return [pl.col(self.cfg.by)] if self.cfg.by else [pl.col("id").is_null().alias("__row")]

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: streamed (the local runner, ``executors.planned``) or on Ray, the group column
        (one byte a row without ``by``) and the plan (~20 bytes a row), then one shard or block at a
        time; called on a frame, the table plus that column."""
        return self.plan(df.select(self.narrow(df.schema))).apply(df)

    def plan(self, narrow: pl.DataFrame) -> Plan:
        """The sample drawn from the row count of each group: the same on every executor."""
        seed = self.seed
        idx = narrow.with_row_index("__i")
        parts = idx.partition_by(self.cfg.by, maintain_order=True) if self.cfg.by else [idx]
        picked = []
        for part in parts:
            k = self.cfg.n if self.cfg.n is not None else round(part.height * (self.cfg.fraction or 0))
            k = min(k, part.height)
            picked.append(part.sample(n=k, seed=seed, shuffle=False).select("__i"))
        keep = pl.concat(picked)["__i"] if picked else pl.Series("__i", [], dtype=pl.UInt32)
        mask = idx["__i"].is_in(keep.implode()).to_numpy()
        plan = Plan.of(narrow.height, stage=self.name, reasons=["not_sampled"])
        plan.mark(np.flatnonzero(~mask), reason="not_sampled")
        plan.stats = {"kept": int(mask.sum()), "of": narrow.height}
        return plan
