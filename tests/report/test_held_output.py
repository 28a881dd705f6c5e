"""The report drawn from the train table a run holds is the report drawn from its Parquet file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curate.report import figures
from curate.report.html import render


@pytest.mark.slow  # the shared quickstart run
def test_report_from_the_held_table_is_the_report_from_the_file(quickstart_run: Path):
    path = quickstart_run / "output" / "train.canonical.parquet"
    table = pl.read_parquet(path)
    from_file = render(quickstart_run)
    aside = path.with_name("aside.parquet")
    path.rename(aside)  # a section that still reads the file fails while the table is handed over
    try:
        held = render(quickstart_run, output=table)
    finally:
        aside.rename(path)
    assert "could not be drawn" not in held

    def norm(html: str) -> str:
        return re.sub(r"chart-\d+", "chart", html)

    assert norm(held) == norm(from_file)


@pytest.mark.parametrize(
    "values",
    [
        np.arange(200_000) % 997,  # integers over a wide range: 40 even bins
        np.arange(5_000) % 7,  # small integers: one bar per value
        np.random.default_rng(0).lognormal(3, 2, 50_000),  # skewed: log10 bins
        np.random.default_rng(1).normal(0, 1, 50_000),
        np.array([0.1, 0.2, 0.30000000000000004, 0.3, 0.7]),  # values on the edges
    ],
)
def test_histogram_counts_are_numpys_on_the_same_edges(values: np.ndarray):
    fig, edges, log = figures.hist({"v": pl.Series(values)}, "v")
    a = np.log10(np.clip(values, 1, None)) if log else values
    assert fig.data[0].y == np.histogram(a, bins=edges)[0].tolist()
    assert sum(fig.data[0].y) == len(values)
