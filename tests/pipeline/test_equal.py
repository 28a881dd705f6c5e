"""``equal.same_values`` agrees with ``Series.equals(check_dtypes=True)`` on nested columns."""

from __future__ import annotations

import itertools

import polars as pl
import pytest

from curate.pipeline.equal import same_values

MSG = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))
AB = pl.Struct({"a": pl.Int64, "b": pl.String})

CASES = [
    pl.Series([[], [], []], dtype=MSG),
    pl.Series([[{"role": "user", "content": "hi"}], [], None], dtype=MSG),
    pl.Series([[{"role": "user", "content": "hi"}], None, []], dtype=MSG),
    pl.Series([[{"role": "user", "content": "hi"}], [], []], dtype=MSG),
    pl.Series([[{"role": "user", "content": "ho"}], [], []], dtype=MSG),
    pl.Series([[{"role": "user", "content": None}], [], []], dtype=MSG),
    pl.Series([[None], [], []], dtype=MSG),
    pl.Series([[{"role": "user", "content": "h"}, {"role": "assistant", "content": "i"}], [], []], dtype=MSG),
    pl.Series([[{"role": "user", "content": "h"}], [{"role": "assistant", "content": "i"}], []], dtype=MSG),
    pl.Series([[1, 2], [3], None], dtype=pl.List(pl.Int64)),
    pl.Series([[1, 2], [3], []], dtype=pl.List(pl.Int64)),
    pl.Series([[1], [2, 3], []], dtype=pl.List(pl.Int64)),
    pl.Series([[1, None], [3], []], dtype=pl.List(pl.Int64)),
    pl.Series([[[1], []], [], None], dtype=pl.List(pl.List(pl.Int64))),
    pl.Series([[[], [1]], [], None], dtype=pl.List(pl.List(pl.Int64))),
    pl.Series([{"a": 1, "b": "x"}, None, {"a": 2, "b": None}], dtype=AB),
    pl.Series([{"a": 1, "b": "x"}, {"a": None, "b": None}, {"a": 2, "b": None}], dtype=AB),
    pl.Series(["a", None, "c"]),
    pl.Series(["a", "b", "c"]),
    pl.Series([1, 2, 3], dtype=pl.Int32),
    pl.Series([1, 2, 3], dtype=pl.Int64),
]


@pytest.mark.parametrize(("i", "j"), list(itertools.product(range(len(CASES)), repeat=2)))
def test_same_values_agrees_with_equals(i: int, j: int) -> None:
    a, b = CASES[i], CASES[j]
    assert same_values(a, b) == a.equals(b, check_dtypes=True)


def test_same_values_on_gathered_and_filtered_copies() -> None:
    """What ``thin_of`` compares: the input at the kept rows against the stage's filtered output."""
    s = pl.Series([[{"role": "user", "content": str(k)}] * (k % 3) for k in range(1000)], dtype=MSG)
    keep = pl.Series([k % 7 != 0 for k in range(1000)])
    rows = [k for k in range(1000) if k % 7]
    assert same_values(s.gather(rows), s.filter(keep))
    changed = s.filter(keep).to_list()
    changed[500] = [{"role": "user", "content": "other"}] * len(changed[500] or [1])
    assert not same_values(s.gather(rows), pl.Series(changed, dtype=MSG))
