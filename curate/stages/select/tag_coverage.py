"""``select.tag_coverage``: InsTag's complexity-first diverse sampling over a tag column."""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from curate.errors import StageError
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageResult
from curate.stages.mix.allocate import Plan
from curate.stages.select.budget import BudgetConfig


@register("select.tag_coverage")
class TagCoverageSelect(GlobalStage):
    """Keep a budget of rows that covers as many tags, and tag combinations, as possible.

    InsTag (Lu et al. 2023): sort rows by tag count (more tags = more complex request, first), walk
    them and take a row when it brings a tag not yet taken. When every tag is covered and budget is
    left, the rest is filled round-robin over distinct tag sets, complex sets first (one row per
    set per round, seeded order within a set), so the budget spreads over combinations rather than
    piling onto the largest. Removed: ``over_budget``. ``by`` is ignored (the budget is global).
    """

    class Config(BudgetConfig):
        column: str = Field(
            "tag_intent", description="tag column: a list (tag.intent) or one label per row (task)"
        )
        seed: int | None = Field(None, description="overrides the recipe seed")

    cfg: Config

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """What ``plan`` reads per row: the tag column."""
        if self.cfg.column not in schema:
            raise StageError(
                f"tag column {self.cfg.column!r} is missing", stage=self.name, hint="run tag.intent first"
            )
        return [pl.col(self.cfg.column)]

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: streamed (the local runner, ``executors.planned``) or on Ray, the tag column (tens
        of bytes a row) and the plan (~20 bytes a row), then one shard or block at a time; called
        on a frame, the table plus that column."""
        return self.plan(df.select(self.narrow(df.schema))).apply(df)

    def plan(self, df: pl.DataFrame) -> Plan:
        """The rows to keep, decided from the tag column: the same on every executor."""
        cfg = self.cfg
        seed = self.seed
        budget = cfg.budget(df.height)
        budget = df.height if budget is None else budget
        col = df[cfg.column]
        if not isinstance(col.dtype, pl.List):  # one label per row (task, tag_cluster)
            col = df.select(pl.concat_list(pl.col(cfg.column).cast(pl.Utf8)).list.drop_nulls()).to_series()
        tags = col.list.sort().list.unique(maintain_order=True)
        t = pl.DataFrame(
            {
                "i": np.arange(df.height),
                "n": tags.list.len().fill_null(0),
                "key": tags.list.join("|").fill_null(""),
                "r": np.random.default_rng(seed).random(df.height),
            }
        )
        t = t.sort(["n", "r"], descending=[True, False])
        # pass 1: rows that bring a new tag, most complex first (one Python step per tag set)
        first = t.unique("key", keep="first", maintain_order=True)
        seen: set[str] = set()
        picked: list[int] = []
        for i, key in zip(first["i"].to_list(), first["key"].to_list(), strict=True):
            new = {x for x in key.split("|") if x} - seen
            if new and len(picked) < budget:
                picked.append(i)
                seen |= new
        # pass 2: round-robin over tag sets, complex first
        rest = (
            t.filter(~pl.col("i").is_in(picked))
            .with_columns(rnd=pl.int_range(pl.len()).over("key"))
            .sort(["rnd", "n", "r"], descending=[False, True, False])
        )
        picked.extend(rest["i"].head(budget - len(picked)).to_list())
        keep = np.zeros(df.height, dtype=bool)
        keep[picked] = True
        plan = Plan.of(df.height, stage=self.name, reasons=["over_budget"])
        plan.mark(np.flatnonzero(~keep), reason="over_budget", threshold=budget)
        vocab = set(tags.explode().drop_nulls().to_list())
        kept_tags = tags.filter(pl.Series(keep)).explode().drop_nulls()
        plan.stats = {
            "rows_in": df.height,
            "rows_out": int(keep.sum()),
            "tags_in": len(vocab),
            "tags_kept": int(kept_tags.n_unique()),
            "tag_sets_in": int(t["key"].n_unique()),
        }
        return plan
