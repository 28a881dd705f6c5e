from __future__ import annotations

import polars as pl
import pytest

from tests.helpers import lawbench_rows


@pytest.fixture(scope="session")
def law_all() -> pl.DataFrame:
    """All 8,500 LawBench QA rows."""
    return lawbench_rows(None)


@pytest.fixture(scope="session")
def law680(law_all: pl.DataFrame) -> pl.DataFrame:
    """The first 40 rows of each task."""
    line = pl.col("origin").str.extract(r":(\d+)$").cast(pl.Int64)
    return law_all.filter(line <= 40)
