"""Streamed runs (issue 16): the run's data as Parquet shards changes no result.

Real data: the quickstart's three sources (LawBench consultation, chit-chat, chatterbot dialogues)
plus the LawBench file again as a fourth source, so ``dedup.exact`` has cross-source copies. Shard
and output-chunk sizes are shrunk so that ~2,400 rows make ~10 shards and the out-of-core shuffle
runs with several buckets; the result must equal, byte for byte, the run where everything fits
one shard (what the whole-table path did before shards existed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

import curate
from curate import app
from curate.pipeline import order, registry, rundir, shards
from curate.pipeline.executors import pool, segment
from curate.pipeline.executors.segment import Step, apply_removal
from curate.pipeline.rundir import RunDir
from curate.pipeline.runner import run_stages
from curate.pipeline.shards import Shards, shard_name, write_shard
from curate.pipeline.stage import RowStage, StageConfig
from curate.recipe import parse

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "recipes" / "data"
SOURCES = [
    {
        "name": "law_qa",
        "path": str(DATA / "lawbench_consult.jsonl"),
        "format": "alpaca",
        "columns": {"prompt": "query", "response": "response", "system": "system"},
        "license": "apache-2.0",
    },
    {"name": "chitchat", "path": str(DATA / "chitchat.sharegpt.json"), "license": "mit"},
    {
        "name": "chatterbot",
        "path": str(DATA / "chatterbot.prh.jsonl"),
        "format": "prompt_response_history",
        "license": "bsd-3-clause",
    },
    {
        "name": "law_again",
        "path": str(DATA / "lawbench_consult.jsonl"),
        "format": "alpaca",
        "columns": {"prompt": "query", "response": "response", "system": "system"},
        "license": "apache-2.0",
    },
]
STAGES = [
    {"filter.length": {"field": "assistant", "min_chars": 2, "max_chars": 4000}},
    "filter.refusal",
    "dedup.exact",
    {"dedup.minhash": {"threshold": 0.85}},
    {"sample.random": {"fraction": 0.9}},  # planned: narrow columns, then shard by shard
    {"filter.length": {"min_chars": 20}},
]


def _recipe(tmp: Path, stages: list = STAGES, **output) -> curate.recipe.Recipe:
    body = {
        "name": "s",
        "seed": 3,
        "sources": SOURCES,
        "stages": stages,
        "output": {"format": ["sharegpt", "alpaca", "canonical"], **output},
    }
    p = tmp / "r.yaml"
    p.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return parse(p.read_text(encoding="utf-8"), file=str(p), path=p)


def _small(monkeypatch: pytest.MonkeyPatch, rows: int = 256, out_rows: int = 300) -> None:
    monkeypatch.setattr(shards, "SHARD_ROWS", rows)
    monkeypatch.setattr(rundir, "SHARD_ROWS", rows)
    monkeypatch.setattr(order, "OUT_ROWS", out_rows)
    monkeypatch.setattr(order, "MEMORY_BYTES", 0)  # the out-of-core shuffle, not the in-memory one


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "output").rglob("*")) if p.is_file()
    }


def _ledger(m: dict) -> list[tuple]:
    return [(s["name"], s["rows_in"], s["kept"], s["removed"], s["reasons"]) for s in m["stages"]]


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, pl.DataFrame]:
    """The run with default sizes: every stage sees one shard (~2,400 rows)."""
    tmp = tmp_path_factory.mktemp("whole")
    res = curate.run(_recipe(tmp), out=tmp / "run", train=False)
    assert len(Shards.of(tmp / "run" / "stages" / "00-read")) == 1
    return tmp / "run", res.manifest, res.output


def test_small_shards_give_byte_identical_output(tmp_path: Path, monkeypatch, whole):
    _small(monkeypatch)
    res = curate.run(_recipe(tmp_path), out=tmp_path / "run", train=False)
    read = Shards.of(tmp_path / "run" / "stages" / "00-read")
    assert len(read) == 10 and read.height == whole[1]["stages"][0]["kept"]
    assert (tmp_path / "run" / "stages" / "02-filter.refusal" / "rows-00009.parquet").exists()  # thin
    assert _ledger(res.manifest) == _ledger(whole[1])
    assert [s["stats"] for s in res.manifest["stages"][3:5]] == [s["stats"] for s in whole[1]["stages"][3:5]]
    got, want = _files(tmp_path / "run"), _files(whole[0])
    assert got.keys() == want.keys()
    for name in want:  # JSONL byte for byte; the canonical table's Parquet by content
        if name.endswith(".parquet"):
            assert pl.read_parquet(tmp_path / "run" / name).equals(pl.read_parquet(whole[0] / name)), name
        else:
            assert got[name] == want[name], name
    assert res.output.equals(whole[2])


def test_unshuffled_json_and_parquet_outputs_match(tmp_path: Path, monkeypatch):
    want = tmp_path / "want"
    curate.run(_recipe(tmp_path, shuffle=False, file_format="json"), out=want, train=False)
    _small(monkeypatch)
    got = tmp_path / "got"
    curate.run(_recipe(tmp_path, shuffle=False, file_format="json"), out=got, train=False)
    assert _files(got).keys() == _files(want).keys()
    for name, b in _files(want).items():
        if not name.endswith(".parquet"):
            assert _files(got)[name] == b, name
    out = tmp_path / "pq"
    curate.run(_recipe(tmp_path, file_format="parquet"), out=out, train=False)
    monkeypatch.undo()
    ref = tmp_path / "pq_ref"
    curate.run(_recipe(tmp_path, file_format="parquet"), out=ref, train=False)
    for name in _files(ref):
        assert pl.read_parquet(out / name).equals(pl.read_parquet(ref / name)), name


def _table() -> pl.DataFrame:
    parts = [
        curate.load(s["path"], **{k: v for k, v in s.items() if k not in ("path", "license")})
        for s in SOURCES
    ]
    return pl.concat(parts, how="vertical")


@pytest.mark.parametrize(
    ("name", "cfg"),
    [
        ("dedup.exact", {}),
        ("dedup.exact", {"keep": "longest", "scope": "per_source", "field": "assistant"}),
        ("dedup.minhash", {"threshold": 0.8}),
        (
            "dedup.minhash",
            {"threshold": 0.7, "keep": "longest", "scope": "per_source", "clustering": "greedy"},
        ),
    ],
)
def test_decide_on_shards_equals_apply_on_the_table(tmp_path: Path, name: str, cfg: dict, monkeypatch):
    from curate.stages.dedup import spill

    monkeypatch.setattr(spill, "BLOCK_PAIRS", 7)  # MinHash verifies its pairs 7 at a time from disk
    df = _table()
    src = tmp_path / "src"
    src.mkdir()
    for n, start in enumerate(range(0, df.height, 300)):
        write_shard(df.slice(start, 300), src / shard_name(n))
    table = Shards.of(src)
    assert len(table) > 5
    stage = registry.get(name)(cfg)
    want = stage.apply(df)
    assert want.n_removed > 5
    sdir = tmp_path / "out"
    rm = stage.decide(table)
    t = apply_removal(Step(stage, sdir, RunDir.open_stage(sdir, "fp")), table, rm)
    RunDir.close_stage(sdir, {})
    assert (t.kept, t.removed, t.stats) == (want.kept.height, want.n_removed, want.stats)
    assert Shards.of(sdir).collect().equals(want.kept)
    assert pl.read_parquet(sdir / "removed.parquet").equals(want.removed)


PLANNED = [
    *STAGES[:3],
    {"select.top": {"score": "score_chars", "min": 30, "top_fraction": 0.8, "by": "source"}},
    {"cap.per_task": {"by": "source", "max_rows": 700}},
    {"mix.temperature": {"by": "source", "unit": "chars", "report_tokens": False, "max_copies_per_row": 2}},
    {"split": {"fraction": 0.05, "by": "source"}},
    {"sample.random": {"n": 600, "by": "source"}},
]


def test_planned_stages_never_read_the_whole_table(tmp_path: Path, monkeypatch):
    """Mixing, caps, selection, the split and sampling decide from narrow columns and carry their
    plan out per shard (``executors.planned``): no stage materializes the table, and ten shards
    give the ledger, stats, eval split and output bytes of one."""
    want = curate.run(_recipe(tmp_path, PLANNED), out=tmp_path / "want", train=False)
    _small(monkeypatch)

    def stages_only(*a, **k):  # the stages; the eval split's MCQ distractor pool is read whole after
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(RunDir, "read_kept", lambda sdir: pytest.fail(f"read the whole table of {sdir}"))
            mp.setattr(Shards, "collect", lambda self: pytest.fail("collected the whole table"))
            return run_stages(*a, **k)

    monkeypatch.setattr(app, "run_stages", stages_only)
    res = curate.run(_recipe(tmp_path, PLANNED), out=tmp_path / "run", train=False)
    assert _ledger(res.manifest) == _ledger(want.manifest)
    assert res.manifest["stages"][6]["added"] > 0 and res.manifest["stages"][7]["side"]["eval"] > 0
    got, ref = res.manifest["stages"][4:], want.manifest["stages"][4:]
    assert [(s["stats"], s["added"], s["side"]) for s in got] == [
        (s["stats"], s["added"], s["side"]) for s in ref
    ]
    for sdir in sorted((tmp_path / "want" / "stages").glob("0[4-8]-*")):
        mine = tmp_path / "run" / "stages" / sdir.name
        for f in [*sdir.glob("removed.parquet"), *sdir.glob("side-*.parquet")]:
            assert pl.read_parquet(mine / f.name).equals(pl.read_parquet(f)), f
    assert res.side["eval"].equals(want.side["eval"])
    for name, b in _files(tmp_path / "want").items():
        if not name.endswith(".parquet"):
            assert _files(tmp_path / "run")[name] == b, name


class _Boom(RowStage):
    """Counts the rows it sees and raises once on a chosen call: a kill inside a fused segment."""

    calls: list[int] = []  # noqa: RUF012 - the test's tally
    fail_at: int | None = None

    class Config(StageConfig):
        pass

    def apply(self, df: pl.DataFrame):
        _Boom.calls.append(df.height)
        if _Boom.fail_at is not None and len(_Boom.calls) == _Boom.fail_at:
            raise RuntimeError("killed here")
        return super().apply(df)


def test_a_failed_segment_resumes_at_its_first_unfinished_shard(tmp_path: Path, monkeypatch, whole):
    registry.register("test.boom")(_Boom)
    monkeypatch.setattr(pool, "ENABLED", False)  # the serial loop: _Boom counts calls in this process
    stages = [STAGES[0], "test.boom", *STAGES[1:]]
    want = tmp_path / "want"
    curate.run(_recipe(tmp_path, stages), out=want, train=False)
    _small(monkeypatch)
    run = tmp_path / "run"
    _Boom.calls, _Boom.fail_at = [], 4
    with pytest.raises(Exception, match="killed here"):
        curate.run(_recipe(tmp_path, stages), out=run, train=False)
    tmp = run / "stages" / "02-test.boom.tmp"
    assert sorted(p.name for p in tmp.glob("part-*.pkl")) == [f"part-{n:05d}.pkl" for n in range(3)]
    _Boom.calls, _Boom.fail_at = [], None
    res = curate.run(_recipe(tmp_path, stages), out=run, train=False)
    assert len(_Boom.calls) == 10 - 3  # the three finished shards were not run again
    assert not list((run / "stages").glob("*.tmp"))
    assert res.manifest["stages"][2]["rows_in"] == res.manifest["stages"][1]["kept"]
    for name, b in _files(want).items():
        if not name.endswith(".parquet"):
            assert _files(run)[name] == b, name


def test_a_failed_write_fails_the_run_and_the_rerun_is_byte_identical(tmp_path: Path, monkeypatch, whole):
    """A segment's files are written by a writer thread while the next step computes
    (``segment.run_shard``): a write that fails still fails the run, no later step of that shard
    writes a file or a marker, every marker left names whole files, and the rerun resumes from them."""
    monkeypatch.setattr(pool, "ENABLED", False)
    _small(monkeypatch)
    real, calls = segment.write_thin, []

    def failing(frame, columns, base, path):
        calls.append(Path(path).name)
        if len(calls) == 5:  # shard 2 of the first segment's first stage (two stages a shard)
            raise OSError("disk full")
        real(frame, columns, base, path)

    monkeypatch.setattr(segment, "write_thin", failing)
    run = tmp_path / "run"
    with pytest.raises(Exception, match="disk full"):
        curate.run(_recipe(tmp_path), out=run, train=False)
    assert calls == ["rows-00000.parquet"] * 2 + ["rows-00001.parquet"] * 2 + ["rows-00002.parquet"]
    first, second = run / "stages" / "01-filter.length.tmp", run / "stages" / "02-filter.refusal.tmp"
    assert sorted(p.name for p in first.glob("part-*.pkl")) == ["part-00000.pkl", "part-00001.pkl"]
    assert sorted(p.name for p in second.glob("part-*.pkl")) == ["part-00000.pkl", "part-00001.pkl"]
    assert not (second / "rows-00002.parquet").exists()
    monkeypatch.setattr(segment, "write_thin", real)
    res = curate.run(_recipe(tmp_path), out=run, train=False)
    assert _ledger(res.manifest) == _ledger(whole[1])
    got = _files(run)
    for name, b in _files(whole[0]).items():
        if not name.endswith(".parquet"):
            assert got[name] == b, name


def test_changed_recipe_does_not_resume_a_stale_tmp(tmp_path: Path, monkeypatch):
    _small(monkeypatch)
    monkeypatch.setattr(pool, "ENABLED", False)  # _Boom counts calls in this process
    registry.register("test.boom")(_Boom)
    stages = [STAGES[0], "test.boom", *STAGES[1:]]
    run = tmp_path / "run"
    _Boom.calls, _Boom.fail_at = [], 4
    with pytest.raises(Exception, match="killed here"):
        curate.run(_recipe(tmp_path, stages), out=run, train=False)
    changed = [{"filter.length": {"field": "assistant", "min_chars": 3}}, *stages[1:]]
    _Boom.calls, _Boom.fail_at = [], None
    curate.run(_recipe(tmp_path, changed), out=run, train=False)
    assert len(_Boom.calls) == 10  # a new fingerprint: every shard again


def test_shards_gather_and_select(tmp_path: Path):
    df = pl.DataFrame({"id": [f"r{i}" for i in range(10)], "x": list(range(10))})
    for n in range(4):
        write_shard(df.slice(3 * n, 3), tmp_path / shard_name(n))
    s = Shards.of(tmp_path)
    assert s.rows == (3, 3, 3, 1) and s.offsets() == [0, 3, 6, 9, 10]
    assert s.gather(np.array([1, 5, 9]), ["id"])["id"].to_list() == ["r1", "r5", "r9"]
    assert s.select(pl.col("x") * 2)["x"].to_list() == [2 * i for i in range(10)]


def test_a_run_whose_training_fails_is_not_complete(tmp_path: Path, monkeypatch):
    """The manifest marks a run complete only after training: a failed training leaves none, so
    readers (``stats``, ``train RUN_DIR``) refuse the run instead of taking it for finished."""
    import curate.train

    def fail(*a, **k):
        raise RuntimeError("training died")

    monkeypatch.setattr(curate.train, "run_training", fail)
    recipe = _recipe(tmp_path, STAGES[:3], file_format="jsonl")
    recipe = recipe.model_copy(update={"train": {"model": "smollm2-135m", "epochs": 1}})
    with pytest.raises(RuntimeError, match="training died"):
        curate.run(recipe, out=tmp_path / "run")
    assert (tmp_path / "run" / "output").exists() and not (tmp_path / "run" / "manifest.json").exists()
    with pytest.raises(curate.errors.InputError, match="incomplete"):
        RunDir.read_manifest(tmp_path / "run")
