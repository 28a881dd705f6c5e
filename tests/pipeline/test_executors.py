"""The Executor protocol, the recipe's ``executor:`` key (``local``, ``ray``: see test_ray.py), and the
local executor's row slices in threads."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import polars as pl
import pytest

from curate.errors import RecipeError
from curate.pipeline import registry
from curate.pipeline.executors import Executor, LocalExecutor, get_executor
from curate.pipeline.stage import ScoreOnly, Stage, StageContext, StageResult
from curate.pipeline.stats import plain
from curate.recipe import parse
from tests.helpers import lawbench_rows

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


# --- row slices in threads (issue 13) ---------------------------------------------------------

THREADED = [  # thread_safe stages with thresholds that remove some LawBench rows
    ("filter.words", "curate.stages.filter.size", {"min_words": 300}),
    ("filter.lines", "curate.stages.filter.size", {"min_lines": 2, "max_longest_line_chars": 300}),
    ("filter.ratios", "curate.stages.filter.ratios", {"min_alnum_ratio": 0.7, "max_special_ratio": 0.12}),
    ("filter.repetition", "curate.stages.filter.repetition", {"max_char_rep_ratio": 0.2,
                                                               "max_dup_line_frac": 0.1}),
    ("filter.gopher_quality", "curate.stages.filter.gopher", {"min_words": 100, "min_stop_words": None,
                                                             "min_mean_word_chars": None}),
    ("filter.gopher_repetition", "curate.stages.filter.gopher", {}),
    ("filter.c4", "curate.stages.filter.web", {"min_sentences": 2}),
    ("filter.fineweb", "curate.stages.filter.web", {}),
]


@pytest.fixture(scope="module")
def law() -> pl.DataFrame:
    return lawbench_rows(None)  # 8,500 real chat rows, Chinese legal Q&A


def _spied(name: str, module: str, cfg: dict) -> tuple[Stage, list[tuple[int, int]]]:
    """The stage, and the (thread, rows) of every ``apply`` it gets."""
    importlib.import_module(module)
    stage = registry.get(name)(cfg, ctx=StageContext(workers=2))
    calls: list[tuple[int, int]] = []
    apply = stage.apply

    def spy(df: pl.DataFrame) -> StageResult:
        calls.append((threading.get_ident(), df.height))
        return apply(df)

    stage.apply = spy  # type: ignore[method-assign]
    return stage, calls


@pytest.mark.parametrize(("name", "module", "cfg"), THREADED, ids=[t[0] for t in THREADED])
def test_thread_slices_give_the_whole_batch_result(law: pl.DataFrame, name: str, module: str, cfg: dict):
    """A ``thread_safe`` stage's batch is cut into ``ctx.threads`` slices run at once; the merged
    result (kept, removed, kept positions, stats) is the one the whole batch gives, and so are the
    scores when only the transform runs (``ScoreOnly``, the score-cache path)."""
    stage, calls = _spied(name, module, cfg)
    assert stage.thread_safe
    whole = stage.apply(law)
    calls.clear()
    got = LocalExecutor(thread_rows=1000).apply(stage, law)
    assert sorted(h for _, h in calls) == [law.height // 2, law.height - law.height // 2]
    assert whole.removed is not None and got.removed is not None
    assert 0 < whole.removed.height < law.height, "the thresholds should remove some rows, not all"
    assert got.kept.equals(whole.kept)
    assert got.removed.equals(whole.removed)
    assert np.array_equal(got.kept_rows, whole.kept_rows)
    assert got.stats == plain(whole.stats)
    scored = LocalExecutor(thread_rows=1000).apply(ScoreOnly(stage), law).kept
    assert scored.equals(stage.transform(law))  # type: ignore[attr-defined]


def test_other_stages_and_small_batches_run_whole(law: pl.DataFrame):
    """Stages not marked ``thread_safe`` (a tokenizer may back filter.length) and batches under
    ``thread_rows`` per thread are not cut."""
    stage, calls = _spied("filter.length", "curate.stages.filter.length", {"min_chars": 50})
    assert not stage.thread_safe
    LocalExecutor(thread_rows=1000).apply(stage, law)
    assert [h for _, h in calls] == [law.height]
    stage, calls = _spied(*THREADED[0])
    LocalExecutor(thread_rows=law.height).apply(stage, law)
    assert [h for _, h in calls] == [law.height]
