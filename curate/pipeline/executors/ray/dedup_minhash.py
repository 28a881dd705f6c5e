"""``dedup.minhash`` on Ray: the local algorithm step for step, every step distributed.

1. Per block: shingles -> MinHash signatures -> one key of the whole signature and one key per
   band (``text.lsh``, the local kernels and seeds; empty rows drop out as locally).
2. Shuffle by whole-signature key: rows with identical signatures pair with the first of them
   (a star); only those representatives go on to banding, as locally.
3. Shuffle by (band, key): each bucket yields its pairs with ``text.lsh.bucket_pairs``, members in
   whole-signature-key order as in the local call, so even large buckets (star + chain) give the
   same pairs.
4. Candidate pairs -> exact Jaccard (``pairs.pair_jaccard``), kept at ``>= threshold``.
5. Connected components by label propagation (``components``): no pair list on the driver.
6. Each removed row's Jaccard to its survivor (``pair_jaccard`` again); only these (row, survivor,
   value) triples, one per removed row, come back to the driver, where the stage's own ``split``
   cuts the table. Identification and removal share ``__row``, so repartitioning in between
   cannot make them disagree (NeMo Curator #2092).

``clustering: greedy`` is sequential by nature (rows in rank order) and runs the local stage.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from curate.pipeline.executors.ray.components import components
from curate.pipeline.executors.ray.pairs import EDGE, RANK, pair_jaccard, text_records
from curate.pipeline.executors.ray.session import PART, ROW, collect, map_frames, part_of, shuffle, to_dataset
from curate.pipeline.stage import StageResult
from curate.text.lsh import band_keys, bucket_pairs, signatures
from curate.text.shingles import shingle_hashes

GRP = "__grp"
S1 = {"kind": pl.Int8, "a": pl.Int64, "b": pl.Int64, "full": pl.UInt64, "key": pl.UInt64, PART: pl.Int64}
PAIR = {"a": pl.Int64, "b": pl.Int64}
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def apply_minhash(stage: Any, df: pl.DataFrame, *, blocks: int, parts: int) -> StageResult:
    """The stage's result, identical to ``stage.apply(df)``, with every pass over rows on Ray."""
    c = stage.cfg
    if df.height < 2 or c.clustering == "greedy":
        return stage.apply(df)
    bands, rows = stage.band_shape()
    seed, kw, perm = stage.seed, stage.shingle_kw(), c.num_perm
    base = to_dataset(df, blocks, {RANK: stage.rank(df), GRP: stage.groups(df)})

    def sign(b: pl.DataFrame) -> pl.DataFrame:
        h, off, _ = shingle_hashes(stage.texts(b), workers=1, **kw)
        sig = signatures(h, off, num_perm=perm, seed=seed, workers=1)
        ne = np.diff(off) > 0
        sig, grp, row = sig[ne], b[GRP].to_numpy()[ne], b[ROW].to_numpy()[ne]
        full = band_keys(sig, 1, perm, grp, seed)[0]
        keys = band_keys(sig, bands, rows, grp, seed)
        cols = {ROW: row, "full": full, **{f"b{k}": keys[k] for k in range(bands)}}
        return pl.DataFrame(cols).with_columns(pl.Series(PART, part_of(full, parts)))

    def reps(p: pl.DataFrame) -> pl.DataFrame:
        p = p.sort(ROW).with_columns(rep=pl.col(ROW).first().over("full"))
        star = p.filter(pl.col(ROW) != pl.col("rep")).select(
            kind=pl.lit(0, pl.Int8), a="rep", b=ROW, full=pl.lit(0, pl.UInt64), key=pl.lit(0, pl.UInt64)
        )
        one = p.filter(pl.col(ROW) == pl.col("rep"))
        keyed = one.unpivot(
            [f"b{k}" for k in range(bands)], index=[ROW, "full"], variable_name="band", value_name="key"
        )
        band = keyed.select(
            kind=pl.lit(1, pl.Int8),
            a=ROW,
            b=pl.col("band").str.slice(1).cast(pl.Int64),
            full="full",
            key="key",
        )
        out = pl.concat([star, band])
        salt = out["b"].to_numpy().astype(np.uint64) * GOLDEN
        return out.with_columns(pl.Series(PART, part_of(out["key"].to_numpy() ^ salt, parts))).cast(S1)  # type: ignore[arg-type]

    def buckets(p: pl.DataFrame) -> pl.DataFrame:
        out = []
        for (_,), sub in p.sort("full").group_by("b", maintain_order=True):
            i, j = bucket_pairs(sub["key"].to_numpy())
            r = sub["a"].to_numpy()
            out.append(pl.DataFrame({"a": np.minimum(r[i], r[j]), "b": np.maximum(r[i], r[j])}, schema=PAIR))
        return pl.concat(out) if out else pl.DataFrame(schema=PAIR)

    def kind(k: int) -> Any:
        return lambda p: p.filter(pl.col("kind") == k)

    s1 = shuffle(map_frames(base, sign), reps, parts).materialize()
    star = map_frames(s1, lambda p: kind(0)(p).select("a", "b"))
    n_star = star.count()
    pairs = star.union(shuffle(map_frames(s1, kind(1)), buckets, parts)).materialize()
    stats: dict[str, Any] = {"identical_signatures": n_star}
    texts = text_records(base, stage, parts)
    edges = pair_jaccard(pairs, texts, stage, parts).materialize()
    stats["candidate_pairs"] = edges.count()
    if c.verify:
        edges = map_frames(edges, lambda e: e.filter(pl.col("sim") >= c.threshold)).materialize()
    stats.update(bands=bands, rows_per_band=rows, verified_pairs=edges.count() if c.verify else None)
    if not edges.count():
        return stage.split(df, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), stats)
    nodes, rounds = components(edges, parts)
    moved = map_frames(nodes, lambda p: p.filter(pl.col("lrow") != pl.col("node")).select(a="lrow", b="node"))
    removed = collect(pair_jaccard(moved, texts, stage, parts))
    removed = removed.sort("j") if removed.height else pl.DataFrame(schema=EDGE)
    stats["ray_label_rounds"] = rounds
    return stage.split(df, removed["j"].to_numpy(), removed["i"].to_numpy(), removed["sim"].to_numpy(), stats)
