"""cap.per_task and cap.total on real LawBench tasks."""

from __future__ import annotations

import polars as pl

from curate.pipeline.stage import StageContext
from curate.stages.mix.cap import CapPerTask, CapTotal, largest_remainder


def test_per_task_cap_random_and_by_score(mixed: pl.DataFrame):
    res = CapPerTask({"max_rows": 5}, ctx=StageContext(seed=1)).apply(mixed)
    per_task = res.kept.filter(pl.col("task").is_not_null()).group_by("task").len()["len"]
    assert per_task.max() == 5 and per_task.len() == 17
    assert res.kept.filter(pl.col("task").is_null()).height == 60  # unlabelled rows are not one task
    assert res.n_removed == 17 * 3 and set(res.removed["reason"]) == {"task_cap"}
    assert res.stats["groups_capped"] == 17

    scored = mixed.with_columns(
        pl.col("messages").list.last().struct.field("content").str.len_chars().alias("score_len")
    )
    best = CapPerTask({"max_rows": 2, "score": "score_len"}).apply(scored).kept
    for (task,), part in scored.filter(pl.col("task").is_not_null()).group_by("task"):
        top2 = sorted(part["score_len"].to_list(), reverse=True)[:2]
        assert sorted(best.filter(pl.col("task") == task)["score_len"].to_list(), reverse=True) == top2


def test_cap_missing_caps_unlabelled_too(mixed: pl.DataFrame):
    res = CapPerTask({"max_rows": 5, "cap_missing": True}).apply(mixed)
    assert res.kept.filter(pl.col("task").is_null()).height == 5


def test_total_cap_keeps_shares(mixed: pl.DataFrame):
    res = CapTotal({"max_rows": 49, "by": "domain"}).apply(mixed)
    counts = dict(res.kept.group_by("domain").len().iter_rows())
    assert res.kept.height == 49
    assert counts == {"legal": 34, "general": 15}  # 136:60 of 49 by largest remainder
    assert set(res.removed["reason"]) == {"total_cap"}
    assert CapTotal({"max_rows": 10_000}).apply(mixed).kept.height == mixed.height


def test_largest_remainder_sums_exactly():
    q = largest_remainder({"a": 1, "b": 1, "c": 1}, 10)
    assert sum(q.values()) == 10 and sorted(q.values()) == [3, 3, 4]
