"""The sampling engine: exact targets, no replacement when shrinking, capped repeats when growing."""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.stages.mix.allocate import allocate, take_closest


def test_downsample_hits_row_target_without_replacement(law: pl.DataFrame):
    a = allocate(law, by="task", targets={"1-1法条背诵": 3}, unit_col=None, max_copies=3, seed=1)
    got = a.kept.filter(pl.col("task") == "1-1法条背诵")
    assert got.height == 3 and got["id"].n_unique() == 3
    assert a.dropped.height == 5 and a.added == 0
    assert a.kept.height + a.dropped.height == law.height  # other tasks kept whole


def test_upsample_whole_passes_then_partial_and_caps_copies(law: pl.DataFrame):
    one = law.filter(pl.col("task") == "1-1法条背诵")  # 8 rows
    a = allocate(one, by="task", targets={"1-1法条背诵": 19}, unit_col=None, max_copies=3, seed=1)
    assert a.kept.height == 19 and a.added == 11
    copies = a.kept.group_by("id").len()["len"]
    assert copies.max() == 3 and copies.min() == 2  # 2 full passes + 3 rows of a third
    assert sorted(a.kept["score_copy"].unique().to_list()) == [0, 1, 2]
    capped = allocate(one, by="task", targets={"1-1法条背诵": 100}, unit_col=None, max_copies=3, seed=1)
    assert capped.kept.height == 24 and capped.groups[0]["met"] is False


def test_token_units_land_within_half_a_row():
    weights = np.array([5.0, 50, 7, 300, 12, 9, 40, 2, 33, 18])
    for target in (1, 30, 100, 250, 470):
        got = weights[take_closest(weights, target)].sum()
        assert abs(got - target) <= weights.max() / 2


def test_seeded_and_deterministic(mixed: pl.DataFrame):
    kw = {"by": "domain", "targets": {"legal": 40, "general": 90}, "unit_col": None, "max_copies": 3}
    a, b = allocate(mixed, seed=5, **kw), allocate(mixed, seed=5, **kw)
    c = allocate(mixed, seed=6, **kw)
    assert a.kept["id"].to_list() == b.kept["id"].to_list()
    assert a.kept["id"].to_list() != c.kept["id"].to_list()


def test_score_order_takes_the_best(law: pl.DataFrame):
    scored = law.with_columns(pl.int_range(pl.len()).alias("score_q"))
    a = allocate(
        scored, by="domain", targets={"legal": 10}, unit_col=None, max_copies=1, seed=0, order_by="score_q"
    )
    assert sorted(a.kept["score_q"].to_list()) == list(range(law.height - 10, law.height))
