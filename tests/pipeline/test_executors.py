"""The Executor protocol and the recipe's ``executor:`` key (only ``local`` exists today)."""

from __future__ import annotations

import pytest

from curate.errors import RecipeError
from curate.pipeline.executors import Executor, LocalExecutor, get_executor
from curate.recipe import parse

RECIPE = """name: x
executor: {executor}
sources:
  - name: a
    path: tests/data/alpaca.json
"""


def test_local_is_the_default_and_satisfies_the_protocol() -> None:
    r = parse(RECIPE.replace("executor: {executor}\n", ""), file="r.yaml")
    assert r.executor == "local"
    ex = get_executor(r.executor)
    assert isinstance(ex, LocalExecutor) and isinstance(ex, Executor)


def test_ray_is_refused_with_a_reason_and_the_line() -> None:
    with pytest.raises(RecipeError) as e:
        parse(RECIPE.format(executor="ray"), file="r.yaml")
    msg = str(e.value)
    assert msg.startswith("r.yaml:2: 'executor'") and "scale issue" in msg and "valid: local" in msg
    with pytest.raises(RecipeError, match="unknown executor 'dask'; valid: local"):
        parse(RECIPE.format(executor="dask"), file="r.yaml")
