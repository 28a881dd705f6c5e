"""``select.diverse``: keep a varied subset by meaning (Deita repr filter, k-center, facility location)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.embed.greedy import facility_location, greedy_keep, k_center
from curate.embed.service import EmbedConfig, embed_for
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageResult, mark_removed
from curate.stages.select.budget import BudgetConfig, groups, priority


@register("select.diverse")
class DiverseSelect(GlobalStage):
    """Keep rows that add something new, best first, until the budget.

    ``method: repr`` (Deita, Liu et al. 2024): walk rows in ``score`` order (best first; input order
    without a score) and keep a row only when its max cosine to every row kept so far is <= ``tau``
    (0.9, Deita's value), until ``n``/``fraction`` rows are kept; rows over tau are removed as
    ``too_similar`` (``value`` = the cosine, ``dup_of`` = the kept row), rows never reached as
    ``over_budget``. Never two kept rows above tau, within a group. Chunked: no n x n matrix.
    ``kcenter``: greedy k-center (start at the best row, then always the row farthest from those
    chosen; covers outliers). ``facility``: lazy-greedy facility location (picks representatives
    of dense regions; O(n^2) first pass, so up to ~20k rows per group). Both need a budget and
    remove the rest as ``not_selected``. ``by`` makes each group (domain, task) its own budget.
    """

    class Config(EmbedConfig, BudgetConfig):
        method: Literal["repr", "kcenter", "facility"] = Field("repr", description="selection objective")
        tau: float = Field(0.9, gt=-1, le=1, description="repr: max cosine to a kept row")
        score: str | None = Field(None, description="walk order, best first (e.g. score_ifd)")
        score_order: Literal["desc", "asc"] = Field("desc", description="which end of score is best")

    cfg: Config

    def apply(self, df: pl.DataFrame) -> StageResult:
        cfg = self.cfg
        if cfg.method != "repr" and cfg.n is None and cfg.fraction is None:
            from curate.errors import StageError

            raise StageError(f"method {cfg.method} needs a budget", stage=self.name, hint="set n or fraction")
        emb = embed_for(self, df)
        x = emb.vectors
        prio = priority(df, cfg.score, descending=cfg.score_order == "desc", seed=None, stage=self.name)
        pos = np.empty(df.height, dtype=np.int64)
        pos[prio] = np.arange(df.height)
        kept = np.zeros(df.height, dtype=bool)
        reason = np.full(df.height, "not_selected", dtype=object)
        sim = np.full(df.height, np.nan)
        dup = np.full(df.height, -1, dtype=np.int64)
        for rows in groups(df, cfg.by, stage=self.name):
            rows = rows[np.argsort(pos[rows], kind="stable")]  # best first
            budget = cfg.budget(len(rows))
            xs = x[rows]
            if cfg.method == "repr":
                g = greedy_keep(xs, np.arange(len(rows)), threshold=cfg.tau, limit=budget)
                kept[rows] = g.kept
                over = g.decided & ~g.kept
                reason[rows[over]] = "too_similar"
                reason[rows[~g.decided]] = "over_budget"
                sim[rows[over]] = g.sim[over]
                dup[rows[over]] = rows[g.dup_of[over]]
            else:
                pick = (
                    k_center(xs, budget or 0)
                    if cfg.method == "kcenter"
                    else facility_location(xs, budget or 0)
                )
                kept[rows[pick]] = True
        ids = df["id"].to_numpy()
        gone = np.flatnonzero(~kept)
        removed = mark_removed(
            df[gone].with_columns(
                __r=pl.Series(reason[gone].astype(str), dtype=pl.Utf8),
                __v=pl.Series(sim[gone]),
                __d=pl.Series([ids[d] if d >= 0 else None for d in dup[gone]], dtype=pl.Utf8),
            ),
            stage=self.name,
            reason=pl.col("__r"),
            value=pl.col("__v"),
            threshold=cfg.tau if cfg.method == "repr" else None,
            dup_of=pl.col("__d"),
        ).drop("__r", "__v", "__d")
        stats: dict[str, Any] = {
            "embedding": emb.stats,
            "method": cfg.method,
            "rows_in": df.height,
            "rows_out": int(kept.sum()),
            "reasons": {r: int((reason[gone] == r).sum()) for r in sorted(set(reason[gone]))},
        }
        return StageResult(kept=df[np.flatnonzero(kept)], removed=removed, stats=stats)
