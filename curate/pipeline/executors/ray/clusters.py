"""``tag.clusters`` on Ray: the local stage's steps, spread.

1. Vectors per block, k-means fitted on the driver from the sample rows' vectors, every block
   labelled by its nearest centre (``ray.embed``, shared with ``dedup.semantic``); the labels (one
   int64 a row) come to the driver.
2. Label words counted per block (``embed.cluster.word_counts``: the rjieba segmentation, the
   costly part), one shuffle by word hash, and each word partition scores its words by c-TF-IDF
   (``ctfidf_top``: a word's score needs only its own counts, its cluster's word total and the
   mean, which the driver sums from per-block totals first) and returns its ``top_words`` best per
   cluster. The driver merges those tops (``ClusterTags.result``).

Memory on the driver: the fit sample's vectors, one label a row, k word totals per block and
``top_words`` rows per cluster per partition. Identical to the local executor for the lexical
embedders (tests/pipeline/test_ray.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from curate.embed.cluster import add_counts, cluster_sizes, ctfidf_top, word_counts
from curate.embed.service import text_keys
from curate.fields import field_text
from curate.pipeline.executors.ray.embed import LABEL, embed, fit_assign
from curate.pipeline.executors.ray.session import PART, ROW, collect, map_frames, part_of, shuffle, to_dataset
from curate.pipeline.stage import StageResult


def apply_clusters(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """The stage's result, identical to ``stage.apply(df)`` (lexical embedders; see ``ray.embed``)."""
    if df.height == 0:
        return stage.apply(df)
    ds = to_dataset(df, blocks)
    vecs, emb_stats = embed(stage, ds, df.height, actors=parts)
    _, narrow = fit_assign(stage, df, vecs, keep_vectors=False)  # no second copy of the vectors
    labels = narrow[LABEL].to_numpy()
    lab = pl.Series(labels)
    field, top = stage.cfg.field, stage.cfg.top_words

    def count(b: pl.DataFrame) -> pl.DataFrame:
        texts = b.select(field_text(field)).to_series().to_list()
        c = word_counts(texts, lab.gather(b[ROW]).to_numpy())
        return c.with_columns(pl.Series(PART, part_of(text_keys(c["word"].to_list()), parts)))

    counts = map_frames(ds, count).materialize()
    totals = collect(map_frames(counts, lambda b: b.group_by("cluster").agg(pl.col("n").sum())))
    if totals.height == 0:
        totals = pl.DataFrame(schema={"cluster": pl.Int64, "n": pl.Int64})
    sizes, avg = cluster_sizes(totals, np.unique(labels))

    def score(p: pl.DataFrame) -> pl.DataFrame:
        return ctfidf_top(add_counts(p.drop(PART)), sizes, avg, top=top)

    best = collect(shuffle(counts, score, parts))
    if best.height == 0:
        best = pl.DataFrame(schema={"cluster": pl.Int64, "word": pl.Utf8, "score": pl.Float64})
    return stage.result(df, labels, best, emb_stats)
