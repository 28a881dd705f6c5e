"""Thin checkpoints: a streamed stage that only drops rows (or adds a few columns) stores the
positions of its kept rows in its *base* stage's shard and the columns that differ, not the rows.

A row filter keeps most of its input and adds a score column or two; a global dedup that decides
from narrow columns (``GlobalStage.decide``) keeps rows untouched. Writing every such stage's kept
rows again cost ~0.3 s CPU a stage on the 136k-document bench corpus (75 MB: zstd-1 Parquet, and
again to read it back); its thin shard (positions, scores) is a few hundred KB. ``Shards.of`` reads a
thin stage as if it were whole (``Shards.read`` gathers the base's rows and puts the stored columns
back), so resume, ``curate trace``, ``stats`` and the report see the same table.

Every column left out is *checked*: it exists in the input with the same type and its values at the
kept positions equal the kept column (``equal.same_values``: ``Series.equals``, nulls equal), so a
stage that rewrites a value (``filter.c4`` with ``drop_lines``, ``clean.*``) has that column stored;
a stage that gives no positions (``StageResult.kept_rows`` unset) writes its kept rows whole and
becomes the next base.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.pipeline import shards
from curate.pipeline.equal import same_values
from curate.pipeline.memo import remember
from curate.pipeline.shards import BASE_KEY, CHECKPOINT, COLUMNS_KEY, ROW, Shards, take

ENABLED = True  # off: every streamed stage writes its kept rows whole (the tests compare both)


@dataclass(frozen=True)
class Lineage:
    """Where one shard's rows come from: ``base`` (a stage dir name), their positions in its shard
    of the same number (None: they are that shard) and the columns stored beside (not in the base)."""

    base: str
    pos: np.ndarray | None = None
    own: frozenset[str] = frozenset()


def lineage(src: Shards, n: int) -> Lineage:
    """The lineage of shard ``n`` of ``src`` (a full stage's or a thin one's)."""
    b = src.base(n)
    if b is None:
        return Lineage(src.paths[n].parent.name)
    thin = shards.read_shard(src.paths[n])
    own = frozenset(c for c in thin.columns if c != ROW)
    return Lineage(b.parent.name, thin.get_column(ROW).to_numpy().astype(np.int64), own)


def thin_of(
    kept: pl.DataFrame, src: pl.DataFrame, rows: np.ndarray | None, at: Lineage
) -> tuple[pl.DataFrame, Lineage] | None:
    """``kept`` (= ``src`` at ``rows``, some columns changed or added) as a thin shard over ``at``'s
    base, and the kept rows' lineage; None when ``rows`` does not describe ``kept``."""
    if not ENABLED or rows is None or ROW in kept.columns:
        return None
    rows = np.asarray(rows, dtype=np.int64)
    if rows.shape != (kept.height,) or (rows.size and (rows.min() < 0 or rows.max() >= src.height)):
        return None
    own = []
    for c, t in kept.schema.items():  # the input's kept rows one column at a time: no copy of the rows
        same = c not in at.own and c in src.columns and src.schema[c] == t
        if not same or not same_values(take(src.select(c), rows).to_series(), kept[c]):
            own.append(c)
    pos = rows if at.pos is None else at.pos[rows]
    frame = pl.DataFrame({ROW: pl.Series(pos, dtype=pl.UInt32)}).with_columns(kept.select(own).get_columns())
    return frame, Lineage(at.base, pos, frozenset(own))


def write_thin(frame: pl.DataFrame, columns: list[str], base: str, path: os.PathLike) -> None:
    """A thin shard to ``path`` (temp file and rename, as ``shards.write_shard``)."""
    path = os.fspath(path)
    tmp = path + ".part"
    frame.write_parquet(tmp, **CHECKPOINT, metadata={BASE_KEY: base, COLUMNS_KEY: json.dumps(columns)})
    os.replace(tmp, path)
    remember(path, frame)
