"""Executors run stages: ``apply(stage, table) -> StageResult``. A stage never knows which one runs it.

``local`` (the default) and ``ray`` (Ray Data; the optional extra ``curate[ray]``, imported only
when chosen). The recipe's ``executor:`` key names one; any other name is a recipe error.
"""

from __future__ import annotations

from typing import Any

from curate.errors import RecipeError
from curate.pipeline.executors.base import Executor
from curate.pipeline.executors.local import LocalExecutor

EXECUTORS: dict[str, Any] = {"local": LocalExecutor, "ray": None}  # None: imported when chosen
PLANNED = {"stream": "streaming shards through a process pool"}


def executor_problem(name: str) -> str | None:
    """Why ``name`` is not an executor (None when it is one)."""
    if name in EXECUTORS:
        return None
    why = ""
    if name in PLANNED:
        why = f" ({PLANNED[name]} is planned: the scale issue adds it behind this protocol)"
    return f"unknown executor {name!r}{why}; valid: {', '.join(EXECUTORS)}"


def check_executor(name: str) -> str:
    """``name`` if an executor by that name exists, else a RecipeError saying what is valid."""
    problem = executor_problem(name)
    if problem:
        raise RecipeError(problem, key="executor", hint="use executor: local (the default)")
    return name


def get_executor(name: str = "local", **options: Any) -> Executor:
    """A fresh executor called ``name`` (``options``: e.g. ``address`` for ray)."""
    if check_executor(name) == "ray":
        try:
            from curate.pipeline.executors.ray import RayExecutor
        except ImportError as e:
            raise RecipeError(
                f"executor: ray needs Ray Data ({e})", key="executor", hint="pip install 'curate[ray]'"
            ) from e
        return RayExecutor(**options)
    return EXECUTORS[name](**options)


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "check_executor", "executor_problem", "get_executor"]
