"""``select.diverse``: keep a varied subset by meaning (Deita repr filter, k-center, facility location)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.embed.greedy import facility_location, greedy_keep, k_center
from curate.embed.service import EmbedConfig, apply_embedded, embedder_for
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, Removal, StageResult
from curate.stages.select.budget import BudgetConfig, group_codes, groups_of, priority


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

    def check(self) -> None:
        """A k-center or facility selection without a budget is an error before any work."""
        if self.cfg.method != "repr" and self.cfg.n is None and self.cfg.fraction is None:
            from curate.errors import StageError

            raise StageError(
                f"method {self.cfg.method} needs a budget", stage=self.name, hint="set n or fraction"
            )

    def make_embedder(self) -> Any:
        """The configured embedder (fresh: a corpus-fitted one is fit by ``embed_texts``)."""
        return embedder_for(self)

    def order(self, df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each row's group (``group_codes``) and its place in the walk order (0 = best)."""
        cfg = self.cfg
        prio = priority(df, cfg.score, descending=cfg.score_order == "desc", seed=None, stage=self.name)
        pos = np.empty(df.height, dtype=np.int64)
        pos[prio] = np.arange(df.height)
        return group_codes(df, cfg.by, stage=self.name), pos

    def walk(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One group's rows (vectors ``xs``, best first): ``(kept, reason code, cosine, dup_of)``,
        positions within the group; reason codes index ``REASONS``."""
        cfg, m = self.cfg, xs.shape[0]
        budget = cfg.budget(m)
        kept = np.zeros(m, dtype=bool)
        reason = np.zeros(m, dtype=np.int64)  # not_selected
        sim = np.full(m, np.nan)
        dup = np.full(m, -1, dtype=np.int64)
        if cfg.method == "repr":
            g = greedy_keep(xs, np.arange(m), threshold=cfg.tau, limit=budget)
            kept[:] = g.kept
            over = g.decided & ~g.kept
            reason[over] = 1
            reason[~g.decided] = 2
            sim[over] = g.sim[over]
            dup[over] = g.dup_of[over]
        else:
            pick = (
                k_center(xs, budget or 0) if cfg.method == "kcenter" else facility_location(xs, budget or 0)
            )
            kept[pick] = True
        return kept, reason, sim, dup

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """The per-row columns the decision reads besides the vectors: the id (``dup_of``), the
        ``score`` and the ``by`` group (those present: ``order`` names a missing one)."""
        want = dict.fromkeys(c for c in ("id", self.cfg.score, self.cfg.by) if c is not None)
        return [pl.col(c) for c in want if c in schema]

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: the n x dim float32 vectors beside the table (1 KB a row at 256 dims); ``repr``
        walks in chunks (no n x n matrix), ``facility`` builds a group's full similarity matrix.
        The local executor streams it (``executors.embedded``): the vectors in a file in the
        stage's work dir; in memory the narrow columns, ``repr``'s current block and kept-row
        chunk (one group's vectors for ``kcenter``/``facility``: all of them with ``by`` unset),
        then one shard at a time. On Ray
        the vectors are made per block and each group walks in one task after a shuffle by group
        (one group, ``by`` unset, is one task holding all vectors); the driver holds a few
        numbers a row."""
        self.check()
        return apply_embedded(self, df)

    def choose(self, narrow: pl.DataFrame, x: Any, emb_stats: dict[str, Any], texts: Any = None) -> Removal:
        """The decision from the ``narrow`` columns and the unit vectors ``x`` (an array or a
        ``VectorFile``): each group walked best first (``walk``); ``texts`` is not read. From a
        file, ``repr``'s chunked walk reads the rows it compares block by block (``subset``)
        instead of holding the group's vectors."""
        self.check()
        n = narrow.height
        gid, pos = self.order(narrow)
        kept = np.zeros(n, dtype=bool)
        reason = np.zeros(n, dtype=np.int64)
        sim = np.full(n, np.nan)
        dup = np.full(n, -1, dtype=np.int64)
        for rows in groups_of(gid):
            rows = rows[np.argsort(pos[rows], kind="stable")]  # best first
            lazy = self.cfg.method == "repr" and callable(getattr(x, "subset", None))
            k, r, s, d = self.walk(x.subset(rows) if lazy else x[rows])  # repr reads its blocks
            kept[rows], reason[rows], sim[rows] = k, r, s
            dup[rows] = np.where(d >= 0, rows[np.maximum(d, 0)], -1)
        return self.removal(narrow["id"], kept, reason, sim, dup, emb_stats)

    def result(self, df: pl.DataFrame, *decided: Any) -> StageResult:
        """``removal``'s decision applied to the whole table ``df`` (the Ray executor's end)."""
        return self.removal(df["id"], *decided).split(df, stage=self.name)

    def removal(
        self,
        ids: pl.Series,
        kept: np.ndarray,
        reason: np.ndarray,
        sim: np.ndarray,
        dup: np.ndarray,
        emb_stats: dict[str, Any],
    ) -> Removal:
        """The decision from the walk's per-row outcome (``dup``: row positions or -1): shared by
        the local executors and Ray."""
        cfg = self.cfg
        id_of = ids.to_numpy()
        gone = np.flatnonzero(~kept)
        why = np.asarray(REASONS, dtype=object)[reason[gone]].astype(str)
        stats: dict[str, Any] = {
            "embedding": emb_stats,
            "method": cfg.method,
            "rows_in": len(kept),
            "rows_out": int(kept.sum()),
            "reasons": {r: int((why == r).sum()) for r in sorted(set(why))},
        }
        return Removal(
            rows=gone,
            reason=why,
            value=sim[gone],
            dup_of=[id_of[d] if d >= 0 else None for d in dup[gone]],
            threshold=cfg.tau if cfg.method == "repr" else None,
            stats=stats,
        )


REASONS = ("not_selected", "too_similar", "over_budget")
