"""``dedup.exact`` on Ray: keys computed per block, then one global hash partition by key.

The Data-Juicer #971 trap was a dedup that ran per worker, so copies in different blocks all
survived. Here every row's 128-bit key decides its partition, so all copies of a text meet in one
``map_groups`` call wherever their blocks were; the survivor is the best ``__rank`` (the stage's
own survivor rank, computed on the driver: ``arange`` for ``keep: first``, else one sort of one
column), exactly the local rule. Only the duplicates' (row, survivor) pairs come back to the
driver, which splits the table with the stage's own ``split``.
Memory per worker: one block's text while hashing; 32 bytes a row in the shuffle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from curate.pipeline.executors.ray.session import PART, ROW, collect, map_frames, part_of, shuffle, to_dataset
from curate.pipeline.stage import StageResult

RANK, GRP = "__rank", "__grp"


def apply_exact(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """The stage's result, identical to ``stage.apply(df)``, with the grouping done on Ray."""
    if df.height == 0:
        return stage.apply(df)
    ds = to_dataset(df, blocks, {RANK: stage.rank(df), GRP: stage.groups(df)})

    def keyed(b: pl.DataFrame) -> pl.DataFrame:
        k1, k2 = stage.keys(b.drop(ROW, RANK, GRP), b[GRP].to_numpy())
        return pl.DataFrame({ROW: b[ROW], RANK: b[RANK], "k1": k1, "k2": k2, PART: part_of(k1 ^ k2, parts)})

    def pick(p: pl.DataFrame) -> pl.DataFrame:
        p = p.sort(RANK).with_columns(surv=pl.col(ROW).first().over("k1", "k2"))
        return p.filter(pl.col(ROW) != pl.col("surv")).select(ROW, "surv")

    dups = collect(shuffle(map_frames(ds, keyed), pick, parts))
    if dups.height == 0:
        return stage.split(df, np.zeros(0, np.int64), np.zeros(0, np.int64))
    dups = dups.sort(ROW)
    return stage.split(df, dups[ROW].to_numpy(), dups["surv"].to_numpy())
