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


def ifd(cfg: dict[str, object], tiny_lm: object, cache: object, trainer: object = None) -> object:
    hub = ModelHub(preloaded={"tiny": tiny_lm}, trainer=trainer)
    return get("select.ifd")(cfg, ctx=StageContext(models=hub, cache_dir=cache, seed=7, workers=1))


def same(local: object, dist: object, drop: tuple[str, ...] = ()) -> None:
    assert dist.kept.equals(local.kept)
    assert dist.removed.equals(local.removed)
    skip = (*TIMING, *drop)
    assert {k: v for k, v in dist.stats.items() if k not in skip} == {
        k: v for k, v in local.stats.items() if k not in skip
    }


@pytest.mark.slow  # 20-80 s each on 2 shared cores: two actors import torch and get the model
@pytest.mark.parametrize("scorer", ["base", "pre_experienced"])
def test_ifd_scores_in_actors_equal_local_and_share_its_cache(local_ray, tiny_lm, law, tmp_path, monkeypatch,
                                                              scorer) -> None:  # fmt: skip
    """Scores equal to the float (one thread on both sides; ``quantize: auto`` is bf16 here), the
    same rows kept; the model passes ran in actors (the driver's hub may not even build a scorer),
    the score cache is the local one. ``pre_experienced``: the brief LoRA trains once, on the
    driver, and the actors score under it."""
    import copy

    import curate.lm.likelihood as likelihood
    from curate.train.pre_experience import PreExperience

    monkeypatch.setattr(likelihood, "cpu_threads", lambda: 1)  # an actor holds one CPU: one thread
    cfg = {"model": "tiny", "quantize": "auto", "max": 1.0, "top_fraction": 0.6, "by": "task",
           "max_tokens": 320, "max_answer_tokens": 48}  # fmt: skip
    trainer = None
    if scorer == "pre_experienced":
        cfg |= {"scorer": scorer, "pre_experience": {"rows": 12, "steps": 2, "batch_size": 4, "by": "task"}}
        model = tiny_lm[0]
        trainer = PreExperience(tmp_path / "pre", base=lambda name: copy.deepcopy(model))

    def no_driver_scoring(*a: object, **k: object) -> None:
        raise AssertionError("the driver loaded a scorer")

    with monkeypatch.context() as m:
        m.setattr(ModelHub, "scorer", no_driver_scoring)  # the actors' processes keep the real one
        dist = get_executor("ray").apply(ifd(cfg, tiny_lm, tmp_path / "ray", trainer), law)
        again = get_executor("ray").apply(ifd(cfg, tiny_lm, tmp_path / "ray", trainer), law)
    local = LocalExecutor().apply(ifd(cfg, tiny_lm, tmp_path / "local", trainer), law)
    same(local, dist, drop=("pre_experience",))
    assert dist.kept["score_ifd"].to_list() == local.kept["score_ifd"].to_list()
    assert dist.kept["score_ifd"].null_count() == 0 and dist.removed["reason"].value_counts().height >= 2
    assert dist.removed.filter(pl.col("id").str.ends_with("-q"))["reason"].to_list() == ["no_score"] * 2
    assert os.getpid() not in dist.stats["ray"]["actor_pids"] and dist.stats["ray"]["work_items"] > 1
    assert dist.stats["passes_computed"] == local.stats["passes_computed"] > 0
    assert again.kept.equals(local.kept) and again.removed.equals(local.removed)
    assert again.stats["passes_computed"] == 0  # a second run computes nothing
    back = LocalExecutor().apply(ifd(cfg, tiny_lm, tmp_path / "ray", trainer), law)  # the same keys locally
    assert back.stats["passes_computed"] == 0 and back.kept.equals(local.kept)
    if trainer is not None:  # trained once, by the first (Ray) run on the driver; reused after
        pre = [r.stats["pre_experience"] for r in (dist, again, local)]
        assert [p["reused"] for p in pre] == [False, True, True] and pre[0]["groups"] > 1
        assert {k: v for k, v in pre[0].items() if k != "reused"} == {
            k: v for k, v in pre[2].items() if k != "reused"
        }


def documents(k: int) -> pl.DataFrame:
    """``k`` real documents (laws, news, reviews: tests/data/dedup/real_docs.jsonl) as kind=text rows."""
    import json
    from pathlib import Path

    from curate.schema import frame, text_row

    path = Path(__file__).resolve().parents[1] / "data" / "dedup" / "real_docs.jsonl"
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()][:k]
    return frame([text_row(r["text"], origin=f"doc{i}", source=r["source"]) for i, r in enumerate(rows)])


def test_intent_tags_and_mixing_into_pretraining_decide_alike_per_block(local_ray, monkeypatch) -> None:
    """tag.intent (the frequency floor counts over all blocks, not per block) and
    mix.into_pretraining (rendering and measuring per block, the allocation over all rows) on
    uneven blocks of real LawBench rows (system prompts, some null) and real documents interleaved:
    the local result, stats included; the per-row work ran in Ray workers, not on the driver."""
    import curate.stages.mix.pretrain as pretrain
    import curate.stages.tag.intent as intent

    law = lawbench_rows(4).with_columns(
        system=pl.when(pl.int_range(pl.len()) % 5 == 0).then(None).otherwise(pl.col("system"))
    )
    docs = documents(40)
    df = pl.concat([law.head(30), docs.head(15), law.slice(30), docs.slice(15)], how="diagonal_relaxed")
    cases = [
        ("tag.intent", {"min_rows": 6}),
        ("tag.intent", {"field": "all", "with_system": False, "min_rows": 2}),
        ("mix.into_pretraining", {"unit": "tokens"}),
        ("mix.into_pretraining", {"unit": "chars", "share": 0.9, "max_copies_per_row": 2}),
        ("mix.into_pretraining", {"unit": "examples", "template": "chat_template", "share": 0.3}),
    ]
    ctx = StageContext(seed=7, workers=1)
    local = [LocalExecutor().apply(get(n)(c, ctx=ctx), df) for n, c in cases]

    def not_here(*a: object, **k: object) -> None:
        raise AssertionError("per-row work ran on the driver")

    monkeypatch.setattr(intent, "tag_regex", not_here)  # Ray's worker processes keep the real ones
    monkeypatch.setattr(pretrain, "content_id", not_here)
    for (name, cfg), want in zip(cases, local, strict=True):
        got = get_executor("ray", block_rows=23).apply(get(name)(cfg, ctx=ctx), df)
        assert got.kept.equals(want.kept), (name, cfg)
        assert (got.removed is None and want.removed is None) or got.removed.equals(want.removed), (name, cfg)
        assert got.stats == want.stats and got.added == want.added and got.warnings == want.warnings
    floor = local[0].stats
    assert floor["dropped_rare"] and floor["tags"] and floor["untagged_rows"] > 0
    assert local[3].added > 0 and local[2].n_removed > 0
