"""Thin checkpoints (issue 13, ``pipeline.thin``): a streamed stage that only drops rows stores its
kept rows' positions over a base stage and the columns it changed, not the rows again; readers
(resume, ``Run.kept``, ``curate trace``, the output) see exactly what a whole checkpoint held.

Real data: the quickstart's sources (``test_shards.SOURCES``), row filters, a cleaner that rewrites
text (its rewritten column must be stored), dedup.exact (a global stage that decides from narrow
columns) and a planned global stage (sample.random) after them. Each run is compared with the same run with
thin checkpoints switched off, stage by stage and output file by output file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import curate
from curate.pipeline import order, rundir, shards, thin
from curate.pipeline.memo import memo, recall
from curate.pipeline.shards import Shards, write_shard
from tests.pipeline.test_shards import _files, _recipe

STAGES = [
    {"filter.length": {"field": "assistant", "min_chars": 2, "max_chars": 4000}},
    "filter.refusal",
    {"clean.normalize": {"nfkc": True}},  # rewrites text: stored in its thin shard
    "dedup.exact",
    {"filter.length": {"min_chars": 20}},
    {"sample.random": {"fraction": 0.9}},  # planned (executors.planned): thin too
    {"filter.length": {"min_chars": 30}},
]


def _stage_tables(run: Path) -> dict[str, pl.DataFrame]:
    return {d.name: Shards.of(d).collect() for d in sorted((run / "stages").iterdir()) if d.is_dir()}


@pytest.fixture(scope="module", params=["one", "many"])
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same recipe with thin checkpoints and with whole ones (one shard, or ~10 of 256 rows)."""
    mp = pytest.MonkeyPatch()
    if request.param == "many":
        mp.setattr(shards, "SHARD_ROWS", 256)
        mp.setattr(rundir, "SHARD_ROWS", 256)
        mp.setattr(order, "OUT_ROWS", 300)
        mp.setattr(order, "MEMORY_BYTES", 0)
    tmp = tmp_path_factory.mktemp(f"thin-{request.param}")
    curate.run(_recipe(tmp, STAGES), out=tmp / "thin", train=False)
    mp.setattr(thin, "ENABLED", False)
    curate.run(_recipe(tmp, STAGES), out=tmp / "whole", train=False)
    mp.undo()
    return tmp / "thin", tmp / "whole"


def test_row_filters_and_decided_dedup_write_no_second_copy(runs: tuple[Path, Path]) -> None:
    got, want = runs
    st = got / "stages"
    for name in ("01-filter.length", "02-filter.refusal", "04-dedup.exact", "05-filter.length"):
        assert not list((st / name).glob("kept-*.parquet")), name
        files = list((st / name).glob("rows-*.parquet"))
        assert files, name
        cols = set(pl.read_parquet_schema(files[0]))
        assert not cols & {"text", "messages", "origin", "id"}, (name, cols)  # positions and scores only
        whole = sum(p.stat().st_size for p in (want / "stages" / name).glob("kept-*.parquet"))
        assert sum(p.stat().st_size for p in files) < whole / 3, name
    # a cleaner gives no positions: written whole, it is the base of the stages after it
    assert list((st / "03-clean.normalize").glob("kept-*.parquet"))
    meta = pl.read_parquet_metadata(next((st / "05-filter.length").glob("rows-*.parquet")))
    assert meta["curate.base"] == "03-clean.normalize"
    # a planned global stage carries its plan out shard by shard: positions over the same base
    assert not list((st / "06-sample.random").glob("kept-*.parquet"))
    meta = pl.read_parquet_metadata(next((st / "06-sample.random").glob("rows-*.parquet")))
    assert meta["curate.base"] == "03-clean.normalize"
    assert not list((want / "stages" / "02-filter.refusal").glob("rows-*.parquet"))


def test_thin_stages_read_as_the_whole_ones(runs: tuple[Path, Path]) -> None:
    got, want = runs
    a, b = _stage_tables(got), _stage_tables(want)
    assert a.keys() == b.keys()
    for name in b:
        assert a[name].equals(b[name]), name
        lazy = curate.open(got).kept(int(name[:2])).collect()
        assert lazy.equals(b[name]), name
    fa, fb = _files(got), _files(want)
    assert fa.keys() == fb.keys()
    for name in fb:
        if name.endswith(".parquet"):
            assert pl.read_parquet(got / name).equals(pl.read_parquet(want / name)), name
        else:
            assert fa[name] == fb[name], name


def test_trace_and_stats_on_a_thin_run(runs: tuple[Path, Path]) -> None:
    got, want = runs
    removed = curate.open(want).removed("filter.refusal")
    kept = curate.open(want).kept("05-filter.length").select("origin").collect()
    for origin in (removed["origin"][0], kept["origin"][0]):
        a, b = curate.open(got).trace(origin), curate.open(want).trace(origin)
        assert a.final == b.final and a.id == b.id
        assert [(s.stage, s.outcome, s.detail, s.scores) for s in a.steps] == [
            (s.stage, s.outcome, s.detail, s.scores) for s in b.steps
        ]
    ra, rb = curate.open(got), curate.open(want)
    assert [s.score_columns for s in ra.stages] == [s.score_columns for s in rb.stages]


def test_resume_reuses_thin_stages(runs: tuple[Path, Path], tmp_path: Path) -> None:
    """A re-run reuses the finished thin stages (nothing recomputed) and writes the same output."""
    got, _ = runs
    res = curate.run(_recipe(got.parent, STAGES), out=got, train=False)
    assert all(s["reused"] for s in res.manifest["stages"])


def test_a_rewritten_or_misplaced_column_is_stored(runs: tuple[Path, Path], tmp_path: Path) -> None:
    """Every column left out of a thin shard is checked against the input: a stage that rewrites
    text (or gives wrong positions) gets those columns stored, and the rows read back are exact."""
    src = Shards.of(runs[1] / "stages" / "00-read").collect()
    rows = np.arange(0, src.height, 3)
    kept = src[rows].with_columns(pl.col("messages").list.reverse(), score_x=pl.lit(1.5))
    frame, at = thin.thin_of(kept, src, rows, thin.Lineage("00-read"))
    assert set(frame.columns) == {"__row", "messages", "score_x"}
    assert at.own == {"messages", "score_x"}
    wrong = thin.thin_of(kept, src, rows + 1, thin.Lineage("00-read"))[0]  # positions off by one
    assert {"id", "origin", "messages"} <= set(wrong.columns)
    base = tmp_path / "00-read"
    base.mkdir()
    src.write_parquet(base / "kept-00000.parquet")
    for n, f in enumerate((frame, wrong)):
        d = tmp_path / f"0{n + 1}-x"
        d.mkdir()
        thin.write_thin(f, kept.columns, "00-read", d / "rows-00000.parquet")
        assert Shards.of(d).collect().equals(kept)
        assert Shards.of(d).scan().collect().equals(kept)
    assert thin.thin_of(kept, src, rows[:-1], thin.Lineage("00-read")) is None  # not one per row


def test_memo_serves_what_this_process_wrote_until_the_file_changes(tmp_path: Path) -> None:
    df = pl.DataFrame({"a": [1, 2, 3]})
    p = tmp_path / "kept-00000.parquet"
    with memo():
        write_shard(df, p)
        assert recall(p) is df
        pl.DataFrame({"a": [9, 9, 9, 9]}).write_parquet(p)  # another writer: the memo must not answer
        assert recall(p) is None
        assert Shards.of(tmp_path).collect()["a"].to_list() == [9, 9, 9, 9]
    write_shard(df, p)
    assert recall(p) is None  # outside a run, nothing is kept


def test_memo_lets_go_of_everything_once_a_run_outgrows_it(tmp_path: Path) -> None:
    """A run larger than the memo reads its shards from disk: keeping the newest ones pinned ~3 GiB
    more than the budget on a 1 GiB corpus (bench/memory_curve.sh: 4.3 GiB peak, 1.2 without)."""
    df = pl.DataFrame({"text": ["法律条文" * 50] * 2_000})
    size = df.estimated_size()
    paths = [tmp_path / f"kept-{n:05d}.parquet" for n in range(3)]
    with memo(budget=int(size * 2.5)):
        write_shard(df, paths[0])
        write_shard(df.clone(), paths[1])
        assert recall(paths[0]) is not None and recall(paths[1]) is not None  # a small run: all kept
        write_shard(df.clone(), paths[2])  # past the budget
        assert [recall(p) for p in paths] == [None, None, None]
        write_shard(df.clone(), paths[0])
        assert recall(paths[0]) is None  # and it stays off for the rest of the run
    assert Shards.of(tmp_path).collect().height == 3 * df.height
