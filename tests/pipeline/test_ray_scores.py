"""``executor: ray`` for the global ``score.*`` stages that hold a model: ``score.perplexity``,
``score.uncertainty`` (k perturbed prompts) and ``score.judge`` (local model) run their model
passes in an actor pool (``pipeline.executors.ray.models``), the model loaded once per actor. Each
gives the local executor's result on real LawBench rows, shares its score cache, and a second run
computes nothing. One local Ray instance for the module (``ray.init(num_cpus=2)``, as CI has 2 cores).
"""

from __future__ import annotations

import os

import polars as pl
import pytest

import curate.lm.choice as choice
import curate.lm.likelihood as likelihood
from curate.models import ModelHub
from curate.pipeline.executors import LocalExecutor, get_executor
from curate.pipeline.registry import get
from curate.pipeline.stage import StageContext
from tests.helpers import lawbench_rows

ray = pytest.importorskip("ray")

TIMING = ("seconds", "estimated_seconds", "forward_tokens", "ray")  # per machine / per work item


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")  # never a cluster
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """An actor holds one CPU, so it scores with one thread; the local run does too."""
    monkeypatch.setattr(likelihood, "cpu_threads", lambda: 1)
    monkeypatch.setattr(choice, "cpu_threads", lambda: 1)


def law(per_task: int) -> pl.DataFrame:
    """LawBench rows (``per_task`` per task), 2 planted copies (the same pairs twice) and 2 rows
    with no answer (a null score)."""
    rows = lawbench_rows(per_task)
    copies = rows.head(2).with_columns(pl.col("id") + "-copy", pl.col("origin") + "-copy")
    asked = rows.slice(5, 2).with_columns(pl.col("messages").list.head(1), pl.col("id") + "-q")
    return pl.concat([rows, copies, asked])


def same(local: object, dist: object) -> None:
    assert dist.kept.equals(local.kept)
    assert (dist.removed is None and local.removed is None) or dist.removed.equals(local.removed)
    strip = lambda s: {k: v for k, v in s.items() if k not in TIMING}  # noqa: E731
    assert strip(dist.stats) == strip(local.stats)


def no_driver_scoring(*a: object, **k: object) -> None:
    raise AssertionError("the driver loaded a scorer")


@pytest.mark.slow  # ~20-40 s each on 2 shared cores: two actors import torch and get the model
@pytest.mark.parametrize(
    ("name", "cfg", "column"),
    [
        ("score.perplexity", {}, "score_ppl"),
        ("score.uncertainty", {"k": 3, "p": 0.3}, "score_uncertainty"),
    ],
)
def test_scores_in_actors_equal_local_and_share_its_cache(
    local_ray, tiny_lm, tmp_path, monkeypatch, name, cfg, column
) -> None:
    """Scores equal to the float (one thread on both sides; ``quantize: auto`` is bf16 here); the
    model passes ran in actors (the driver's hub may not even build a scorer); the score cache is
    the local one, so a second Ray run and a local run on its cache compute nothing."""
    df = law(2)
    cfg = {"model": "tiny", "quantize": "auto", "max_tokens": 320, "max_answer_tokens": 48, **cfg}

    def stage(cache: object) -> object:
        hub = ModelHub(preloaded={"tiny": tiny_lm})
        return get(name)(cfg, ctx=StageContext(models=hub, cache_dir=cache, seed=7, workers=1))

    with monkeypatch.context() as m:
        m.setattr(ModelHub, "scorer", no_driver_scoring)  # the actors' processes keep the real one
        dist = get_executor("ray").apply(stage(tmp_path / "ray"), df)
        again = get_executor("ray").apply(stage(tmp_path / "ray"), df)
    local = LocalExecutor().apply(stage(tmp_path / "local"), df)
    same(local, dist)
    assert dist.kept[column].to_list() == local.kept[column].to_list()
    assert dist.kept[column].null_count() == 2  # the two rows with no answer
    assert os.getpid() not in dist.stats["ray"]["actor_pids"] and dist.stats["ray"]["work_items"] > 1
    assert dist.stats["passes_computed"] == local.stats["passes_computed"] > 0
    assert dist.stats["passes_cached"] == local.stats["passes_cached"]
    assert again.kept.equals(local.kept) and again.stats["passes_computed"] == 0  # nothing computed
    back = LocalExecutor().apply(stage(tmp_path / "ray"), df)  # the same keys locally
    assert back.stats["passes_computed"] == 0 and back.kept.equals(local.kept)


@pytest.mark.slow  # ~60 s on 2 shared cores: the packaged model loaded by two actors, twice, and locally
def test_local_judge_in_actors_with_the_packaged_model_equals_local(local_ray, tmp_path, monkeypatch) -> None:
    """score.judge with the packaged SmolLM2-135M (each actor loads it from the package): the
    rubric's expectation and digit mass equal to the float, the same rows below ``min_mass``
    removed; the pass ran in actors; its cache (new: the judge had none) is shared with local runs."""
    df = law(1)
    cfg = {"model": "smollm2-135m", "max_tokens": 160, "min_mass": 0.88}

    def stage(cache: object) -> object:
        ctx = StageContext(models=ModelHub(), cache_dir=cache, seed=7, workers=1)
        return get("score.judge")(cfg, ctx=ctx)

    with monkeypatch.context() as m:
        m.setattr(ModelHub, "scorer", no_driver_scoring)
        dist = get_executor("ray").apply(stage(tmp_path / "ray"), df)
        again = get_executor("ray").apply(stage(tmp_path / "ray"), df)
    local = LocalExecutor().apply(stage(tmp_path / "local"), df)
    same(local, dist)
    assert dist.kept["score_judge"].to_list() == local.kept["score_judge"].to_list()
    assert dist.kept.height > 0 and dist.n_removed > 0  # a real model: most mass on the digits, not all
    assert set(dist.removed["reason"].to_list()) == {"judge_unparsable"}
    assert os.getpid() not in dist.stats["ray"]["actor_pids"] and dist.stats["ray"]["work_items"] > 1
    assert dist.stats["passes_computed"] == local.stats["passes_computed"] == df.height
    assert again.kept.equals(local.kept) and again.stats["passes_computed"] == 0
    back = LocalExecutor().apply(stage(tmp_path / "ray"), df)
    assert back.stats["passes_computed"] == 0 and back.kept.equals(local.kept)
