"""``tag.clusters``: k-means over embeddings -> ``cluster`` plus a readable label per cluster."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from curate.embed.cluster import (
    add_counts,
    cluster_sizes,
    ctfidf_top,
    fit_centers,
    fit_rows,
    nearest,
    top_words,
    word_counts,
)
from curate.embed.service import EmbedConfig, apply_embedded, embedder_for
from curate.pipeline.registry import register
from curate.pipeline.stage import Columns, GlobalStage, StageResult


@register("tag.clusters")
class ClusterTags(GlobalStage):
    """Group rows by meaning: ``cluster`` (int) and ``tag_cluster`` (its label), nothing removed.

    k-means on unit embeddings (``model``, default the lexical word TF-IDF + SVD: NMI 0.6-0.7 with
    LawBench's 17 tasks, above every neural embedder that installs offline; docs/selection.md),
    fitted on at most 50k rows (``embed.cluster.fit_rows``: the smallest id hashes), then every row
    goes to its nearest centre by cosine (``nearest``): the same fit and assignment as
    dedup.semantic, so the Ray executor assigns per block and gets the same labels. Each cluster's
    label is its ``top_words`` most distinctive words by c-TF-IDF, segmented with rjieba, so
    Chinese labels are words (``刑期 / 判处``), never single characters. Sizes and labels go into
    the run's stats and manifest.

    Memory: the n x dim float32 vectors (1 KB a row at 256 dims) beside the table, and the word
    counts per (cluster, word). The local executor streams it (``executors.embedded``): the
    vectors in a file in the stage's work dir; in memory the ids, the fit sample's vectors, one
    label a row, the word counts and one shard at a time. On Ray the vectors stay in the object
    store; the driver holds the fit sample's vectors, one label a row and the ``top_words`` best
    words per cluster and word partition (the counting runs per block, the c-TF-IDF scoring per
    word partition).
    """

    class Config(EmbedConfig):
        k: int = Field(50, ge=1, description="number of clusters (clipped to the row count)")
        top_words: int = Field(3, ge=1, le=20, description="words per cluster label")
        seed: int | None = Field(None, description="k-means seed (default: the recipe seed)")

    cfg: Config

    def k(self, n: int) -> int:
        """Clusters for ``n`` rows (k-means clips it to the fit sample)."""
        return self.cfg.k

    def make_embedder(self) -> Any:
        """The configured embedder (fresh: a corpus-fitted one is fit by ``embed_texts``)."""
        return embedder_for(self)

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """The per-row column the decision reads besides the vectors and texts: the id (the fit sample)."""
        return [pl.col("id")]

    def apply(self, df: pl.DataFrame) -> StageResult:
        if df.height == 0:
            out = df.with_columns(cluster=pl.lit(None, pl.Int64), tag_cluster=pl.lit(None, pl.Utf8))
            return StageResult(kept=out)
        return apply_embedded(self, df)

    def choose(self, narrow: pl.DataFrame, x: Any, emb_stats: dict[str, Any], texts: Any) -> Columns:
        """The labels from the unit vectors ``x`` (an array or a ``VectorFile``): k-means on the
        fit sample, every row to its nearest centre; the label words counted over ``texts()`` (one
        list per shard, summed: ``add_counts``) and scored by c-TF-IDF."""
        centers = fit_centers(x[fit_rows(narrow["id"])], self.k(narrow.height), seed=self.seed)
        labels = nearest(x, centers)
        parts, at = [], 0
        for t in texts():
            parts.append(word_counts(t, labels[at : at + len(t)]))
            at += len(t)
        counts = add_counts(pl.concat(parts))
        sizes, avg = cluster_sizes(counts, np.unique(labels))
        return self.tagging(labels, ctfidf_top(counts, sizes, avg, top=self.cfg.top_words), emb_stats)

    def result(
        self, df: pl.DataFrame, labels: np.ndarray, best: pl.DataFrame, emb_stats: dict[str, Any]
    ) -> StageResult:
        """``tagging``'s columns beside the whole table ``df`` (the Ray executor's end)."""
        return self.tagging(labels, best, emb_stats).split(df, stage=self.name)

    def tagging(self, labels: np.ndarray, best: pl.DataFrame, emb_stats: dict[str, Any]) -> Columns:
        """The columns from the labels and the best-scored words (``ctfidf_top``, or the tops of
        several word partitions): shared by the local executors and Ray."""
        words = top_words(best, np.unique(labels), top=self.cfg.top_words)
        names = {c: " / ".join(w) if w else f"cluster {c}" for c, w in words.items()}
        columns = pl.DataFrame(
            {
                "cluster": pl.Series(labels, dtype=pl.Int64),
                "tag_cluster": pl.Series(labels).replace_strict(names, return_dtype=pl.Utf8),
            }
        )
        sizes = np.bincount(labels)
        stats: dict[str, Any] = {
            "embedding": emb_stats,
            "k": len(sizes),
            "clusters": [
                {"cluster": int(c), "rows": int(sizes[c]), "label": names.get(int(c), "")}
                for c in np.argsort(-sizes, kind="stable")
                if sizes[c]
            ],
        }
        return Columns(columns, stats=stats)
