"""sample.random: seeded, per-group, and every row accounted for."""

from __future__ import annotations

import polars as pl

from curate import schema
from curate.pipeline.stage import StageContext
from curate.stages.mix.sample import RandomSample


def _table(n: int) -> pl.DataFrame:
    rows = [schema.text_row(f"document number {i}", source="a" if i % 3 else "b") for i in range(n)]
    return schema.frame(rows)


def test_n_is_seeded_and_order_preserving():
    df = _table(100)
    r1 = RandomSample({"n": 10}, ctx=StageContext(seed=1)).apply(df)
    r2 = RandomSample({"n": 10}, ctx=StageContext(seed=1)).apply(df)
    r3 = RandomSample({"n": 10}, ctx=StageContext(seed=2)).apply(df)
    assert r1.kept["text"].to_list() == r2.kept["text"].to_list()
    assert r1.kept["text"].to_list() != r3.kept["text"].to_list()
    idx = [int(t.split()[-1]) for t in r1.kept["text"]]
    assert idx == sorted(idx)
    assert r1.kept.height + r1.n_removed == 100
    assert set(r1.removed["reason"]) == {"not_sampled"}


def test_fraction_by_group():
    df = _table(90)  # 60 from a, 30 from b
    r = RandomSample({"fraction": 0.5, "by": "source"}).apply(df)
    counts = dict(r.kept.group_by("source").len().iter_rows())
    assert counts == {"a": 30, "b": 15}


def test_n_larger_than_table_keeps_all():
    r = RandomSample({"n": 1000}).apply(_table(5))
    assert r.kept.height == 5 and r.n_removed == 0
