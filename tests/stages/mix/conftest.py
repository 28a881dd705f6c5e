from __future__ import annotations

import polars as pl
import pytest

from curate.pipeline.stage import StageContext
from tests.stages.mix.mixing_samples import ByteHub, chitchat_frame, law_frame


@pytest.fixture(scope="session")
def law() -> pl.DataFrame:
    return law_frame()


@pytest.fixture(scope="session")
def chat() -> pl.DataFrame:
    return chitchat_frame()


@pytest.fixture(scope="session")
def mixed(law: pl.DataFrame, chat: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([law, chat])


@pytest.fixture
def ctx() -> StageContext:
    """A run context whose tokenizer is the byte tokenizer (exact, instant)."""
    return StageContext(seed=7, models=ByteHub())
