"""``score.join``: score columns computed elsewhere (``curate score``, a notebook), joined by row id."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import xxhash
from pydantic import Field, computed_field

from curate.errors import StageError
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult


@register("score.join")
class JoinScores(GlobalStage):
    """Add ``score_*`` columns from a Parquet file keyed by ``id``; nothing is removed.

    The loop back from training: ``curate score RUN_DIR`` writes ``RUN_DIR/scores/adapter.parquet``
    (the trained adapter's remaining loss per row); the next run joins it and ``select.top`` keeps
    the rows the model has not learned yet. Rows the file does not cover get null (``select.top``
    treats null as not selected; the stats count them). The file's content hash is part of the
    config, so a new file re-runs the stage and an unchanged one reuses it. Cost: one hash join.
    """

    class Config(StageConfig):
        path: str = Field(description="Parquet file with an id column (relative to the working directory)")
        columns: list[str] | None = Field(None, description="columns to add (default: every score_* column)")

        @computed_field  # type: ignore[prop-decorator]
        @property
        def content(self) -> str:
            """Hash of the file's bytes: part of the stage fingerprint."""
            p = Path(self.path)
            return xxhash.xxh3_64_hexdigest(p.read_bytes()) if p.is_file() else "missing"

    cfg: Config

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: the table plus the score file's id and score columns (~60 bytes a row of the
        file) and the joined columns."""
        p = Path(self.cfg.path)
        if not p.is_file():
            raise StageError(f"no score file {p}", stage=self.name, hint="curate score RUN_DIR writes one")
        scores = pl.read_parquet(p)
        cols = self.cfg.columns or [c for c in scores.columns if c.startswith("score_")]
        missing = [c for c in ["id", *cols] if c not in scores.columns]
        if missing:
            raise StageError(f"{p} has no column(s) {missing}", stage=self.name)
        kept = df.drop([c for c in cols if c in df.columns]).join(
            scores.select("id", *cols).unique("id"), on="id", how="left", maintain_order="left"
        )
        covered = int(kept[cols[0]].is_not_null().sum()) if cols else 0
        return StageResult(kept=kept, stats={"file": str(p), "columns": cols, "rows_covered": covered})
