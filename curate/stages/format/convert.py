"""``convert``: check that every row can be written in a target format, before writing output."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult, mark_removed


@register("convert")
class Convert(GlobalStage):
    """Move rows that cannot be expressed in ``to`` into removed, with the reason.

    Alpaca has no place for tool turns and ShareGPT/OpenAI have no place for a plain document, so a
    mixed table would otherwise fail at write time. Placing this stage last makes the output step
    infallible and the loss visible in the ledger. The output format itself is set by ``output:``.
    """

    class Config(StageConfig):
        to: str = Field("sharegpt", description="alpaca, sharegpt, openai, prompt_response_history or text")

    cfg: Config

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: the table plus one reason column (null where the row converts): the decision is
        per row, but as a global stage it gets the whole table on both executors."""
        from curate.formats.compat import incompatibility

        tagged = df.with_columns(incompatibility(self.cfg.to).alias("__why"))
        bad = pl.col("__why").is_not_null()
        kept = tagged.filter(~bad).drop("__why")
        removed = mark_removed(tagged.filter(bad), stage=self.name, reason=pl.col("__why")).drop("__why")
        return StageResult(kept=kept, removed=removed)
