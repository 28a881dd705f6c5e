from __future__ import annotations

import polars as pl
import pytest

from tests.helpers import lawbench_rows


@pytest.fixture(scope="session")
def law680() -> pl.DataFrame:
    """LawBench: the first 40 queries of each of the 17 tasks (680 rows)."""
    return lawbench_rows(40)
