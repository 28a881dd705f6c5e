"""``select.diverse`` on Ray: vectors per block, one shuffle by group, each group walked in one task.

1. Vectors per block (``ray.embed``: a corpus-fitted embedder fitted once on the driver's sample
   and shipped, or model embedders in an actor pool); they stay in the object store.
2. The walk order and the groups come from two narrow columns on the driver (``score``, ``by``:
   ``DiverseSelect.order``); each row's group code and place travel to the blocks.
3. One shuffle by group: a partition walks each of its groups best first (``DiverseSelect.walk``,
   the local kernel: Deita's repr filter, k-center or facility location) and returns per row
   whether it stays, why not, the cosine and the row it is too similar to.
4. The driver builds the split with the stage's own ``result``.

Memory on the driver: a few numbers a row (group, place, decision); the vectors stay in the
object store. A worker holds one group's vectors while it walks them: the greedy walk is
sequential, so with ``by`` unset all n x dim vectors meet in one task (1 KB a row at 256 dims).
Identical to the local executor for the lexical embedders (tests/pipeline/test_ray.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from curate.pipeline.executors.ray.embed import VEC, embed
from curate.pipeline.executors.ray.session import PART, ROW, collect, map_frames, part_of, shuffle, to_dataset
from curate.pipeline.stage import StageResult

OUT = {"row": pl.Int64, "kept": pl.Boolean, "reason": pl.Int64, "sim": pl.Float64, "dup": pl.Int64}


def apply_diverse(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """The stage's result, identical to ``stage.apply(df)`` (lexical embedders; see ``ray.embed``)."""
    stage.check()
    if df.height == 0:
        return stage.apply(df)
    gid, pos = stage.order(df)
    g_s, p_s = pl.Series(gid), pl.Series(pos)
    ds = to_dataset(df, blocks)
    vecs, emb_stats = embed(stage, ds, df.height, actors=parts)

    def keyed(b: pl.DataFrame) -> pl.DataFrame:
        g = g_s.gather(b[ROW]).to_numpy()
        return b.with_columns(
            pl.Series("__g", g), pl.Series("__pos", p_s.gather(b[ROW])), pl.Series(PART, part_of(g, parts))
        )

    def walk(p: pl.DataFrame) -> pl.DataFrame:
        p = p.sort("__g", "__pos")
        x, row, g = p[VEC].to_numpy(), p[ROW].to_numpy(), p["__g"].to_numpy()
        out = []
        for idx in np.split(np.arange(len(g)), np.flatnonzero(np.diff(g)) + 1):
            if not len(idx):
                continue
            kept, reason, sim, dup = stage.walk(x[idx])
            rows = row[idx]
            d = np.where(dup >= 0, rows[np.maximum(dup, 0)], -1)
            out.append(
                pl.DataFrame({"row": rows, "kept": kept, "reason": reason, "sim": sim, "dup": d}, schema=OUT)
            )
        return pl.concat(out) if out else pl.DataFrame(schema=OUT)

    found = collect(shuffle(map_frames(vecs, keyed), walk, parts)).sort("row")
    return stage.result(
        df,
        found["kept"].to_numpy(),
        found["reason"].to_numpy(),
        found["sim"].to_numpy(),
        found["dup"].to_numpy(),
        emb_stats,
    )
