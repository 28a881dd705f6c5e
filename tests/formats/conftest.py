from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def law():
    """Real LawBench QA rows (the mixing sample), for the eval-file tests."""
    from tests.stages.mix.mixing_samples import law_frame

    return law_frame()


@pytest.fixture(scope="session")
def mixed(law):
    """LawBench QA plus real chit-chat, as the mixing tests use them."""
    import polars as pl

    from tests.stages.mix.mixing_samples import chitchat_frame

    return pl.concat([law, chitchat_frame()])
