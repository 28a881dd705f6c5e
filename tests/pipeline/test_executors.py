"""The Executor protocol and the recipe's ``executor:`` key (``local``, ``ray``: see test_ray.py)."""

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


def test_ray_is_accepted_and_unknown_names_are_refused_with_the_line() -> None:
    assert parse(RECIPE.format(executor="ray"), file="r.yaml").executor == "ray"
    with pytest.raises(RecipeError) as e:
        parse(RECIPE.format(executor="dask"), file="r.yaml")
    msg = str(e.value)
    assert msg.startswith("r.yaml:2: 'executor'") and "unknown executor 'dask'; valid: local, ray" in msg
