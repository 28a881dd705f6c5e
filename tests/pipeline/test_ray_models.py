"""``executor: ray`` for the stages that used to run on the driver: ``select.ifd`` (model passes in
an actor pool), ``tag.intent`` (tags per block, the frequency floor from counts) and
``mix.into_pretraining`` (render and measure per block, the allocation from the narrow columns).
Each gives the local executor's result on real LawBench rows; one local Ray instance for the module
(``ray.init(num_cpus=2)``, as CI has 2 cores).
"""

from __future__ import annotations

import os

import polars as pl
import pytest

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


@pytest.fixture(scope="module")
def law() -> pl.DataFrame:
    """51 LawBench rows (3 per task), 4 planted copies (the same pairs twice) and 2 rows with no
    answer (a null score)."""
    rows = lawbench_rows(3)
    copies = rows.head(4).with_columns(pl.col("id") + "-copy", pl.col("origin") + "-copy")
    asked = rows.slice(10, 2).with_columns(pl.col("messages").list.head(1), pl.col("id") + "-q")
    return pl.concat([rows, copies, asked])


def ifd(cfg: dict[str, object], tiny_lm: object, cache: object) -> object:
    ctx = StageContext(models=ModelHub(preloaded={"tiny": tiny_lm}), cache_dir=cache, seed=7, workers=1)
    return get("select.ifd")(cfg, ctx=ctx)


def same(local: object, dist: object) -> None:
    assert dist.kept.equals(local.kept)
    assert dist.removed.equals(local.removed)
    assert {k: v for k, v in dist.stats.items() if k not in TIMING} == {
        k: v for k, v in local.stats.items() if k not in TIMING
    }


@pytest.mark.slow  # ~1 min on 2 shared cores: two actors import torch and get the model
@pytest.mark.parametrize("quantize", [None, "auto"])
def test_ifd_scores_in_actors_equal_local_and_share_its_cache(local_ray, tiny_lm, law, tmp_path, monkeypatch,
                                                              quantize) -> None:  # fmt: skip
    """Scores equal to the float (one thread on both sides), the same rows kept; the model passes
    ran in actors (the driver's hub may not even build a scorer), the score cache is the local one."""
    import curate.lm.likelihood as likelihood

    monkeypatch.setattr(likelihood, "cpu_threads", lambda: 1)  # an actor holds one CPU: one thread
    cfg = {"model": "tiny", "quantize": quantize, "max": 1.0, "top_fraction": 0.6, "by": "task",
           "max_tokens": 320, "max_answer_tokens": 48}  # fmt: skip
    local = LocalExecutor().apply(ifd(cfg, tiny_lm, tmp_path / "local"), law)

    def no_driver_scoring(*a: object, **k: object) -> None:
        raise AssertionError("the driver loaded a scorer")

    with monkeypatch.context() as m:
        m.setattr(ModelHub, "scorer", no_driver_scoring)  # the actors' processes keep the real one
        dist = get_executor("ray").apply(ifd(cfg, tiny_lm, tmp_path / "ray"), law)
        again = get_executor("ray").apply(ifd(cfg, tiny_lm, tmp_path / "ray"), law)
    same(local, dist)
    assert dist.kept["score_ifd"].to_list() == local.kept["score_ifd"].to_list()
    assert dist.kept["score_ifd"].null_count() == 0 and dist.removed["reason"].value_counts().height >= 2
    assert dist.removed.filter(pl.col("id").str.ends_with("-q"))["reason"].to_list() == ["no_score"] * 2
    assert os.getpid() not in dist.stats["ray"]["actor_pids"] and dist.stats["ray"]["work_items"] > 1
    assert dist.stats["passes_computed"] == local.stats["passes_computed"] > 0
    assert again.kept.equals(local.kept) and again.removed.equals(local.removed)
    assert again.stats["passes_computed"] == 0  # a second run computes nothing
    back = LocalExecutor().apply(ifd(cfg, tiny_lm, tmp_path / "ray"), law)  # the same keys locally
    assert back.stats["passes_computed"] == 0 and back.kept.equals(local.kept)
