"""``dedup.semantic`` on Ray: embed per block, k-means fit on a sample, assign per block, walk per
cluster after one shuffle by cluster. The local stage's decisions, step for step:

1-3. Vectors per block, the k-means fit on a sample and the labels per block: ``ray.embed``
   (shared with ``tag.clusters``).
4. Survivor ranks on the driver from one narrow column (position, length, score or that cosine).
5. One shuffle by cluster: each partition walks its whole clusters in rank order (``semdedup``,
   the local kernel) and returns (row, duplicate-of row, cosine) per removed row, and kept counts
   per ``report_eps``; the stage's own ``result`` builds the removed ledger on the driver.

Memory on the driver: the fit sample's vectors (``ray.embed``), a few int64s a row, and the
result; the n x dim vectors stay spread over the object store. Identity with the local executor:
exact for the lexical embedders; a neural embedder can, rarely, move a cosine across the
threshold (``ray.embed``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import polars as pl

from curate.pipeline.executors.ray.embed import LABEL, VEC, embed, fit_assign
from curate.pipeline.executors.ray.session import PART, ROW, collect, map_frames, part_of, shuffle, to_dataset
from curate.pipeline.stage import StageResult

RANK = "__rank"
TRIPLE = {"row": pl.Int64, "dup": pl.Int64, "sim": pl.Float64, "eps": pl.Float64}


def apply_semantic(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """The stage's result, identical to ``stage.apply(df)`` (see the module doc for neural models)."""
    n = df.height
    if n == 0:
        return stage.apply(df)
    ds = to_dataset(df, blocks)
    vecs, emb_stats = embed(stage, ds, n, actors=parts)
    t0 = time.perf_counter()
    labelled, narrow = fit_assign(stage, df, vecs, cosine=stage.cfg.keep == "centroid")
    labels = narrow[LABEL].to_numpy()
    t1 = time.perf_counter()
    rank = stage.rank(df.select(stage.narrow(df.schema)), lambda: narrow["__cos"].to_numpy())
    rank_s = pl.Series(rank)
    eps = stage.eps()
    report = sorted(stage.cfg.report_eps)

    def keyed(b: pl.DataFrame) -> pl.DataFrame:
        lab = b[LABEL].to_numpy()
        return b.select(ROW, VEC, LABEL).with_columns(
            pl.Series(RANK, rank_s.gather(b[ROW]).to_numpy()), pl.Series(PART, part_of(lab, parts))
        )

    def walk(p: pl.DataFrame) -> pl.DataFrame:
        x, lab, rk, row = p[VEC].to_numpy(), p[LABEL].to_numpy(), p[RANK].to_numpy(), p[ROW].to_numpy()
        kept, dup, sim = stage.walk(x, lab, rk, threshold=1 - eps)
        gone = np.flatnonzero(~kept)
        out = pl.DataFrame(
            {"row": row[gone], "dup": row[dup[gone]], "sim": sim[gone].astype(np.float64), "eps": -1.0},
            schema=TRIPLE,
        )
        counts = [
            pl.DataFrame(
                {
                    "row": -1,
                    "dup": int(stage.walk(x, lab, rk, threshold=1 - e)[0].sum()),
                    "sim": 0.0,
                    "eps": e,
                },
                schema=TRIPLE,
            )
            for e in report
        ]
        return pl.concat([out, *counts])

    found = collect(shuffle(map_frames(labelled, keyed), walk, parts))
    t2 = time.perf_counter()
    if found.height == 0:
        found = pl.DataFrame(schema=TRIPLE)
    gone = found.filter(pl.col("row") >= 0).sort("row")
    tally = found.filter(pl.col("row") < 0).group_by("eps").agg(pl.col("dup").sum())
    retention = {e: int(v) for e, v in tally.iter_rows()}
    retention = {e: retention.get(e, 0) for e in report}
    seconds = {"kmeans": round(t1 - t0, 3), "walk": round(t2 - t1, 3)}
    return stage.result(
        df,
        gone["row"].to_numpy(),
        gone["dup"].to_numpy(),
        gone["sim"].to_numpy(),
        labels,
        emb_stats,
        seconds,
        retention,
    )
