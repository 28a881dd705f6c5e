"""tag.clusters + select.per_cluster + select.tag_coverage on LawBench."""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.pipeline.registry import get
from curate.pipeline.stage import StageContext
from curate.stages.select.per_cluster import proportional


def test_proportional_quotas_meet_the_total_under_a_cap() -> None:
    q = proportional(np.array([500, 40, 30, 5]), 100, 40)
    assert q.sum() == 100 and q.max() <= 40 and q[3] <= 5


def test_clusters_then_per_cluster(law680, tmp_path) -> None:
    ctx = StageContext(seed=7, cache_dir=tmp_path)
    tagged = get("tag.clusters")({"k": 17}, ctx=ctx).apply(law680)
    assert tagged.n_removed == 0 and tagged.kept["cluster"].n_unique() == 17
    labels = [c["label"] for c in tagged.stats["clusters"]]
    words = [w for lab in labels for w in lab.split(" / ")]
    assert all(len(w) > 1 for w in words), labels  # words, never single characters
    a = get("select.per_cluster")({"n": 5}, ctx=ctx).apply(tagged.kept)
    assert a.kept.group_by("cluster").len()["len"].max() <= 5
    b = get("select.per_cluster")({"total": 100, "max_per_cluster": 12}, ctx=ctx).apply(tagged.kept)
    c = get("select.per_cluster")({"total": 100, "max_per_cluster": 12}, ctx=ctx).apply(tagged.kept)
    assert b.kept.height == 100 and b.kept["id"].to_list() == c.kept["id"].to_list()  # seeded
    assert b.kept.group_by("cluster").len()["len"].max() <= 12
    assert (b.removed["reason"] == "cluster_quota").all()


def test_tag_coverage_covers_every_tag_first(law680) -> None:
    tagged = get("tag.intent")({}).apply(law680).kept
    res = get("select.tag_coverage")({"n": 20}).apply(tagged)
    assert res.kept.height == 20
    assert res.stats["tags_kept"] == res.stats["tags_in"]
    assert set(res.kept["tag_intent"].explode().drop_nulls()) == set(
        tagged["tag_intent"].explode().drop_nulls()
    )


def test_cap_per_task_on_a_tag_column(law680) -> None:
    tagged = get("tag.intent")({}).apply(law680).kept
    res = get("cap.per_task")({"by": "tag_intent", "max_rows": 30}).apply(tagged)
    first = res.kept.select(pl.col("tag_intent").list.first()).to_series()
    assert first.drop_nulls().value_counts()["count"].max() <= 30
    assert res.kept.height + res.n_removed == law680.height
    assert "__tag_intent_first" not in res.kept.columns
