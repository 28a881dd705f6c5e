"""``dedup.exact``: drop rows whose normalized text is identical to an earlier (better) row."""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from curate.fields import Field as TextField
from curate.fields import field_text
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult, mark_removed
from curate.stages.dedup.common import Scope, check_keep, source_codes, split_duplicates, survivor_rank
from curate.text.normalize import Punctuation, Whitespace
from curate.text.textkey import text_keys
from curate.text.utf8 import mix64


@register("dedup.exact")
class ExactDedup(GlobalStage):
    """Keep one row per normalized text; the others leave with ``dup_of`` = the survivor's id.

    The field is normalized (see ``text.normalize.normalized``) and hashed to a 128-bit key in one
    compiled pass over its UTF-8 bytes (``textkey.text_keys``: ~6x faster here than the same
    normalization as polars string expressions); then polars keeps the first row of each key in
    survivor order. Cost: one pass, plus a sort when ``keep`` is not ``first``. Removed rows carry
    ``reason = exact_duplicate``, value 1.0 and ``dup_of`` = the survivor's id.
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
        text = df.select(field_text(cfg.field))[:, 0]
        k1, k2 = text_keys(
            text,
            lowercase=cfg.lowercase,
            whitespace=cfg.whitespace,
            punctuation=cfg.punctuation,
            seed=self.ctx.seed,
            workers=self.ctx.threads,
        )
        if cfg.scope == "per_source":
            k1 = k1 ^ mix64(source_codes(df, cfg.scope).astype(np.uint64) + np.uint64(1))
        work = pl.DataFrame({"k1": k1, "k2": k2, "row": np.arange(df.height, dtype=np.int64)})
        if cfg.keep != "first":
            work = work[np.argsort(survivor_rank(df, text, keep=cfg.keep, stage=self.name), kind="stable")]
        dups = work.with_columns(surv=pl.col("row").first().over("k1", "k2")).filter(
            pl.col("row") != pl.col("surv")
        )
        rows = np.sort(dups["row"].to_numpy())
        surv = dups.sort("row")["surv"].to_numpy()
        stats = {"groups": int(df.height - rows.size), "removed": int(rows.size)}
        return split_duplicates(
            df, rows, surv, stage=self.name, reason="exact_duplicate", value=1.0, stats=stats
        )
