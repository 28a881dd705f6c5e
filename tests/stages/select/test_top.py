"""``select.top`` on real LawBench rows with a real rule score (answer length in chars)."""

from __future__ import annotations

import polars as pl
import pytest
from pydantic import ValidationError

from curate.errors import StageError
from curate.stages.select.top import SelectTop
from tests.stages.mix.mixing_samples import law_frame


@pytest.fixture(scope="module")
def law() -> pl.DataFrame:
    df = law_frame()
    chars = pl.col("messages").list.last().struct.field("content").str.len_chars()
    return df.with_columns(score_chars=chars.cast(pl.Float64))


def _balanced(df, res):
    assert df.height == res.kept.height + res.n_removed
    assert set(res.kept["id"]) | set(res.removed["id"]) == set(df["id"])


def test_top_n_per_task_keeps_the_longest(law):
    res = SelectTop({"score": "score_chars", "top_n": 2, "by": "task"}).apply(law)
    _balanced(law, res)
    assert res.kept.group_by("task").len()["len"].to_list() == [2] * law["task"].n_unique()
    for task, g in law.group_by("task"):
        best = sorted(g["score_chars"].to_list(), reverse=True)[:2]
        assert (
            sorted(res.kept.filter(pl.col("task") == task[0])["score_chars"].to_list(), reverse=True) == best
        )
    gone = res.removed
    assert set(gone["reason"]) == {"not_top"}
    # every removed row carries its score and its group's cut, and is no better than that cut
    assert (gone["value"] == gone["score_chars"]).all()
    assert (gone["value"] <= gone["threshold"].cast(pl.Float64)).all()


def test_fraction_range_and_ascending(law):
    res = SelectTop(
        {"score": "score_chars", "min": 50, "max": 400, "top_fraction": 0.25, "order": "asc"}
    ).apply(law)
    _balanced(law, res)
    assert res.kept.height == -(-law.height // 4)
    assert res.kept["score_chars"].is_between(50, 400, closed="left").all()
    r = res.removed
    assert (r.filter(pl.col("reason") == "below_min")["value"] < 50).all()
    assert (r.filter(pl.col("reason") == "above_max")["threshold"] == "400.0").all()
    cut = res.kept["score_chars"].max()
    assert (r.filter(pl.col("reason") == "not_top")["value"] >= cut).all()


def test_null_scores_removed_or_kept(law):
    df = law.with_columns(
        pl.when(pl.int_range(pl.len()) % 5 == 0)
        .then(None)
        .otherwise(pl.col("score_chars"))
        .alias("score_chars")
    )
    res = SelectTop({"score": "score_chars"}).apply(df)
    assert res.removed["reason"].unique().to_list() == ["no_score"]
    assert res.n_removed == df["score_chars"].null_count()
    assert SelectTop({"score": "score_chars", "keep_unscored": True}).apply(df).n_removed == 0


def test_bad_config_and_missing_column(law):
    with pytest.raises(ValidationError):
        SelectTop.Config(score="score_chars", top_n=3, top_fraction=0.5)
    with pytest.raises(StageError, match="score_nope"):
        SelectTop({"score": "score_nope"}).apply(law)


def test_where_selects_among_matching_rows_only(law):
    tasks = law["task"].unique(maintain_order=True).to_list()[:2]
    res = SelectTop({"score": "score_chars", "top_n": 1, "by": "task", "where": {"task": tasks}}).apply(law)
    _balanced(law, res)
    inside = law.filter(pl.col("task").is_in(tasks))
    assert res.n_removed == inside.height - 2  # one kept per selected task, every other row untouched
    assert res.kept.filter(~pl.col("task").is_in(tasks)).height == law.height - inside.height
    assert res.stats["passed_outside_where"] == law.height - inside.height
    with pytest.raises(StageError, match="nope"):
        SelectTop({"score": "score_chars", "where": {"nope": 1}}).apply(law)
