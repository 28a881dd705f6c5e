"""``dedup.exact``: drop rows whose normalized text is identical to an earlier (better) row."""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from curate.fields import Field as TextField
from curate.fields import field_text
from curate.filters.dedup_common import (
    Punctuation,
    Scope,
    Whitespace,
    check_keep,
    normalized,
    source_codes,
    survivor_rank,
)
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult, mark_removed


@register("dedup.exact")
class ExactDedup(GlobalStage):
    """Keep one row per normalized text; the others leave with ``dup_of`` = the survivor's id.

    Everything runs as polars expressions over whole columns: the field is normalized, hashed to
    64 bits (two distinct texts share a key with odds ~n²/2^65, about 3e-6 for ten million rows)
    and the first row of each key in survivor order stays. Cost: one pass plus a sort when
    ``keep`` is not ``first``. Removed rows carry ``reason = exact_duplicate`` and value 1.0.
    """

    class Config(StageConfig):
        field: TextField = Field("all", description="Which text to compare (see curate.fields).")
        lowercase: bool = Field(True, description="Compare case-insensitively.")
        whitespace: Whitespace = Field(
            "collapse", description="keep | collapse (runs -> one space, trimmed) | remove (all of it)."
        )
        punctuation: Punctuation = Field(
            "keep", description="keep | fold (CJK punctuation -> ASCII) | remove (all punctuation/symbols)."
        )
        keep: str = Field(
            "first",
            description="Survivor of a group: first (input order), longest, or a score_* column (highest).",
        )
        scope: Scope = Field(
            "global", description="global: across sources; per_source: only within one source."
        )

        @field_validator("keep")
        @classmethod
        def _check_keep(cls, v: str) -> str:
            return check_keep(v)

    def apply(self, df: pl.DataFrame) -> StageResult:
        cfg = self.cfg
        if df.height == 0:
            return StageResult(kept=df, removed=mark_removed(df, stage=self.name, reason="exact_duplicate"))
        norm = normalized(
            field_text(cfg.field),
            lowercase=cfg.lowercase,
            whitespace=cfg.whitespace,
            punctuation=cfg.punctuation,
        )
        keys = df.select(norm.hash(seed=self.ctx.seed).alias("k"))["k"]
        src = source_codes(df, cfg.scope)
        order = None
        if cfg.keep != "first":
            text = df.select(field_text(cfg.field))[:, 0]
            rank = survivor_rank(df, text, keep=cfg.keep, stage=self.name)
            order = np.argsort(rank, kind="stable")
        work = pl.DataFrame(
            {"k": keys, "s": src, "row": np.arange(df.height, dtype=np.int64), "id": df["id"]}
        )
        if order is not None:
            work = work[order]
        work = work.with_columns(
            first=pl.struct("s", "k").is_first_distinct(),
            dup_of=pl.col("id").first().over("s", "k"),
        )
        dup_rows = work.filter(~pl.col("first"))
        is_dup = np.zeros(df.height, dtype=bool)
        is_dup[dup_rows["row"].to_numpy()] = True
        dup_of = pl.Series("dup_of", np.full(df.height, None, dtype=object), dtype=pl.Utf8)
        dup_of = dup_of.scatter(dup_rows["row"].to_numpy(), dup_rows["dup_of"])
        mask = pl.Series(is_dup)
        removed = mark_removed(
            df.filter(mask),
            stage=self.name,
            reason="exact_duplicate",
            value=1.0,
            dup_of=pl.lit(dup_of.filter(mask)),
        )
        kept = df.filter(~mask)
        stats = {"groups": int(df.height - dup_rows.height), "removed": int(dup_rows.height)}
        return StageResult(kept=kept, removed=removed, stats=stats)
