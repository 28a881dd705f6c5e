"""``select.top``: keep rows by any score column: a range, then the top n or fraction, per group."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.errors import StageError
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageResult
from curate.stages.mix.allocate import Plan
from curate.stages.select.rank import Keep, check_where, keep_columns, select_plan


@register("select.top")
class SelectTop(GlobalStage):
    """Keep the best rows by a ``score_*`` column another stage wrote (rule scores included).

    Scores are columns and thresholds come after (STYLE.md 4): any stage that writes ``score_*`` can
    drive selection, and changing a cut re-runs only this stage. Order of checks: no score, then
    ``min``/``max``, then ``top_n``/``top_fraction`` among the rows left, within each ``by`` group.
    Removed rows carry the score as ``value`` and the bound (or the group's cut score) as
    ``threshold``. Cost: one polars rank, milliseconds per million rows.
    """

    class Config(Keep):
        score: str = Field(..., description="column to select by, e.g. score_ppl or score_ifd")

    cfg: Config

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """What ``plan`` reads per row: the score and the group column."""
        for col in (self.cfg.score, self.cfg.by):
            if col and col not in schema:
                raise StageError(
                    f"column {col!r} not in the table",
                    stage=self.name,
                    hint="score columns: " + ", ".join(c for c in schema if c.startswith("score_")),
                )
        check_where(self.cfg, schema, self.name)
        return [pl.col(c) for c in keep_columns(self.cfg.score, self.cfg)]

    def plan(self, narrow: pl.DataFrame) -> Plan:
        """The selection decided from the ``narrow`` columns: the same on every executor."""
        return select_plan(narrow, self.cfg.score, self.cfg, stage=self.name)

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: streamed (the local runner, ``executors.planned``) or on Ray, the score and group
        columns (~16 bytes a row) and the plan (~20 bytes a row), then one shard or block at a
        time; called on a frame, the table plus those columns."""
        return self.plan(df.select(self.narrow(df.schema))).apply(df)
