"""Executors run stages: ``apply(stage, table) -> StageResult``. A stage never knows which one runs it.

Only ``local`` exists today; the recipe's ``executor:`` key names one, and any other name is a
recipe error that says so (streaming and Ray arrive with the scale issue, behind this protocol).
"""

from __future__ import annotations

from curate.errors import RecipeError
from curate.pipeline.executors.base import Executor
from curate.pipeline.executors.local import LocalExecutor

EXECUTORS: dict[str, type[LocalExecutor]] = {"local": LocalExecutor}
PLANNED = {"ray": "Ray Data", "stream": "streaming shards through a process pool"}


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


def get_executor(name: str = "local") -> Executor:
    """A fresh executor called ``name``."""
    return EXECUTORS[check_executor(name)]()


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "check_executor", "executor_problem", "get_executor"]
