"""dedup.semantic on real LawBench queries."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curate.pipeline.registry import get
from curate.pipeline.stage import StageContext

LINE = pl.col("origin").str.extract(r":(\d+)$").cast(pl.Int64)


def _run(df: pl.DataFrame, cfg: dict, tmp_path) -> object:
    return get("dedup.semantic")(cfg, ctx=StageContext(seed=42, cache_dir=tmp_path)).apply(df)


def _cross_task(df: pl.DataFrame, res) -> int:
    fam = dict(zip(df["id"].to_list(), df["tag_family"].to_list(), strict=True))
    return sum(fam[d] != f for d, f in zip(res.removed["dup_of"], res.removed["tag_family"], strict=True))


def test_paraphrase_removed_templated_neighbours_kept(law_all, tmp_path) -> None:
    """2-9 line 399 restates line 30 with one buyer fewer ("向朱某、李某出售" / "向朱某出售"): removed
    as its duplicate. The 1-1 queries share one template ("民法商法X法第N条的内容是什么？") and differ
    only in the law and article: none may go. SVD-reduced TF-IDF loses those rare words and would
    remove some (the reason dedup.semantic defaults to the random-projection embedder)."""
    df = law_all.filter((LINE <= 40) | (pl.col("origin") == "2-9事件检测.jsonl:399"))
    res = _run(df, {}, tmp_path)
    rem = res.removed
    row399 = rem.filter(pl.col("origin") == "2-9事件检测.jsonl:399")
    id30 = df.filter(pl.col("origin") == "2-9事件检测.jsonl:30")["id"].item()
    assert row399.height == 1 and row399["dup_of"].item() == id30
    assert 0.95 < row399["value"].item() < 1.0 and row399["threshold"].item() == "0.95"
    assert rem.filter(pl.col("task") == "1-1法条背诵").height == 0
    assert res.kept.height + rem.height == df.height
    svd = _run(df, {"model": "lexical", "eps": 0.05}, tmp_path)
    assert svd.removed.filter(pl.col("task") == "1-1法条背诵").height > 0


def test_defaults_remove_no_query_as_duplicate_of_another_task(law_all, tmp_path) -> None:
    df = law_all.filter(LINE <= 150)
    res = _run(df, {"report_eps": [0.01, 0.05, 0.2]}, tmp_path)
    assert res.n_removed > 0
    assert _cross_task(df, res) == 0
    kept = [r["kept"] for r in res.stats["retention"]]
    assert kept == sorted(kept, reverse=True)  # larger eps removes more


def test_survivor_rules(law680, tmp_path) -> None:
    dup = law680.head(30).with_columns(pl.col("id") + "-copy", pl.lit(1.0).alias("score_q"))
    df = pl.concat([law680.with_columns(pl.lit(0.0).alias("score_q")), dup])
    res = _run(df, {"keep": "score_q"}, tmp_path)
    assert set(res.removed["id"]) >= set(law680.head(30)["id"])  # the better-scored copies survive
    cen = _run(df, {"keep": "centroid"}, tmp_path)
    assert cen.n_removed >= 30


@pytest.mark.slow
def test_all_8500_queries_no_cross_task_duplicates(law_all, tmp_path) -> None:
    res = _run(law_all, {}, tmp_path)
    print(f"dedup.semantic defaults on 8,500 LawBench queries: removed {res.n_removed}")
    assert _cross_task(law_all, res) == 0
    assert np.isclose(res.stats["threshold"], 0.95)
