"""Embedding stages streamed shard by shard (issue 16, ``executors.embedded``): the stage dir equals
``stage.apply`` on the whole table (same ids kept and removed, reasons, values, ``dup_of``, cluster
labels, stats but their timings), and a run never holds the whole table or its n x dim vectors.

Real rows: the ShareGPT V3 and LawBench table of ``test_planned`` (nulls in a score, a cluster and
a domain column) plus 60 planted copies of LawBench rows (new ids) spread over the shards, cut
into shards of uneven size (one of a single row).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import curate
from curate import app
from curate.embed import service
from curate.embed.vectors import VectorFile
from curate.models import ModelHub
from curate.pipeline import registry, runner
from curate.pipeline.executors.embedded import VECTORS, run_embedded
from curate.pipeline.executors.segment import Step
from curate.pipeline.rundir import RunDir
from curate.pipeline.runner import run_stages
from curate.pipeline.shards import Shards, shard_name, write_shard
from curate.pipeline.stage import Removal, StageContext, embeds, plans
from curate.pipeline.stats import plain
from tests.pipeline.test_planned import _shards
from tests.pipeline.test_planned import table as table
from tests.pipeline.test_shards import STAGES, _files, _ledger, _recipe, _small


@pytest.fixture(scope="module")
def rows(table: pl.DataFrame) -> pl.DataFrame:
    law = table.filter(pl.col("domain") == "law").head(60)
    copies = law.with_columns(pl.col("id") + "-copy", pl.col("origin") + "-copy")
    return pl.concat([table.head(200), copies.head(30), table.slice(200), copies.tail(30)])


class SmallFit(ModelHub):
    """Lexical embedders fitted on 300 texts: the fit-sample path (``fit_sample``) on a small table."""

    def text_embedder(self, name: str = "lexical", *, dim: int | None = None, seed: int = 0) -> Any:
        e = super().text_embedder(name, dim=dim, seed=seed)
        if hasattr(e, "max_fit_rows"):
            e.max_fit_rows = 300  # type: ignore[attr-defined]
        return e


CASES = [
    ("dedup.semantic", {}),
    ("dedup.semantic", {"keep": "centroid", "clusters": 7, "report_eps": [0.02, 0.2]}),
    ("dedup.semantic", {"keep": "longest", "model": "lexical", "eps": 0.05, "cluster_rows": 100}),
    ("dedup.semantic", {"keep": "score_x", "field": "all", "eps": 0.1}),
    ("tag.clusters", {"k": 6}),
    ("tag.clusters", {"k": 12, "model": "lexical-rp", "top_words": 2}),
    ("select.diverse", {"by": "domain", "tau": 0.5, "n": 40, "score": "score_x"}),
    ("select.diverse", {"tau": 0.8}),
    ("select.diverse", {"method": "kcenter", "fraction": 0.2, "by": "cluster"}),
    ("select.diverse", {"method": "facility", "n": 30, "by": "domain"}),
]  # fmt: skip


def _timeless(stats: Any, drop: tuple[str, ...] = ("seconds",)) -> Any:
    """Stats without their timings (``seconds``, or the keys ``drop`` names, at any depth)."""
    if isinstance(stats, dict):
        return {k: _timeless(v, drop) for k, v in stats.items() if k not in drop}
    if isinstance(stats, list):
        return [_timeless(v, drop) for v in stats]
    return stats


def _ctx(tmp: Path, cache: str | None, small: bool = False) -> StageContext:
    hub = SmallFit() if small else None
    return StageContext(seed=11, cache_dir=None if cache is None else tmp / cache, models=hub)


@pytest.mark.parametrize(("name", "cfg"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_embedded_on_shards_equals_apply_on_the_table(
    tmp_path: Path, rows: pl.DataFrame, monkeypatch: pytest.MonkeyPatch, name: str, cfg: dict
) -> None:
    i = CASES.index((name, cfg))
    cache = "cache" if i % 2 else None  # half the cases through the embedding cache (each run its own)
    if i in (1, 4, 7):  # k-means on a sample (``fit_rows``) and the lexical fit on 300 texts
        monkeypatch.setattr("curate.embed.cluster.FIT_ROWS", 500)
    small = i in (1, 4, 7)
    whole = registry.get(name)(cfg, ctx=_ctx(tmp_path, cache and cache + "-whole", small))
    assert embeds(whole) and not plans(whole) and not callable(getattr(whole, "decide", None))
    want = whole.apply(rows)
    want.stats = plain(want.stats)
    src = _shards(rows, tmp_path / "src")
    assert len(src) == 6 and src.height == rows.height

    read: list[list[str] | None] = []
    real_read = Shards.read
    allocs: list[Any] = []
    real_parts = service.embed_parts

    def spy(self: Shards, n: int, columns: list[str] | None = None) -> pl.DataFrame:
        read.append(columns)
        return real_read(self, n, columns)

    def parts(*a: Any, **k: Any) -> Any:
        alloc = k["alloc"]
        k["alloc"] = lambda d: allocs.append(alloc(d)) or allocs[-1]
        return real_parts(*a, **k)

    stage = registry.get(name)(cfg, ctx=_ctx(tmp_path, cache and cache + "-shards", small))
    sdir = tmp_path / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Shards, "read", spy)
        mp.setattr(Shards, "collect", lambda self: pytest.fail("the whole table was read"))
        mp.setattr("curate.pipeline.executors.embedded.embed_parts", parts)
        t = run_embedded(Step(stage, sdir, RunDir.open_stage(sdir, "fp")), src)
    RunDir.close_stage(sdir, {})
    # the vectors went to a file, never to an n x dim array; each shard read whole once (to carry
    # the decision out), every other read names a few columns (the text field's, the narrow ones)
    assert len(allocs) == 1 and isinstance(allocs[0], VectorFile)
    assert len([c for c in read if c is None]) == len(src)
    assert all("origin" not in c and len(c) < rows.width // 2 for c in read if c is not None), read

    got = Shards.of(sdir).collect()
    assert got.equals(want.kept)
    if want.n_removed:
        assert pl.read_parquet(sdir / "removed.parquet").equals(want.removed)
    else:
        assert not (sdir / "removed.parquet").exists()
    assert (t.rows_in, t.kept, t.removed, t.added) == (rows.height, want.kept.height, want.n_removed, 0)
    assert _timeless(t.stats) == _timeless(want.stats)
    assert t.warnings == want.all_warnings()
    assert sorted(p.name for p in sdir.iterdir() if not p.name.startswith(("kept-", "rows-"))) == sorted(
        ["_done.json", *(["removed.parquet"] if want.n_removed else [])]
    )  # no scratch (vectors, plan) left behind
    if name == "tag.clusters":
        assert got["cluster"].n_unique() == cfg["k"] and t.stats["k"] == cfg["k"]
    else:
        assert want.n_removed  # the case decides something
    if name == "dedup.semantic":
        assert set(want.removed["id"]) & set(rows.filter(pl.col("id").str.ends_with("-copy"))["id"])


def test_a_killed_embedding_stage_resumes_without_embedding_or_choosing_again(
    tmp_path: Path, rows: pl.DataFrame
) -> None:
    """Killed while carrying out shard 3, the re-run of the same stage (same fingerprint) keeps the
    decision and shards 0-2: it neither embeds nor chooses again, and ends with the uninterrupted
    stage dir (and the whole-table result)."""
    cfg = {"keep": "centroid", "clusters": 5, "report_eps": [0.2]}
    stage = registry.get("dedup.semantic")(cfg, ctx=StageContext(seed=11))
    want = stage.apply(rows)
    src = _shards(rows, tmp_path / "src")
    calls = {"encode": 0, "choose": 0, "split": 0}
    real_choose, real_split = type(stage).choose, Removal.split
    make = type(stage).make_embedder

    def embedder(self: Any) -> Any:
        e = make(self)
        encode = e.encode

        def counted(texts: list[str]) -> Any:
            calls["encode"] += 1
            return encode(texts)

        e.encode = counted
        return e

    def choose(self: Any, *a: Any) -> Any:
        calls["choose"] += 1
        return real_choose(self, *a)

    def split(fail_at: int | None) -> Any:
        def f(self: Removal, *a: Any, **k: Any) -> Any:
            calls["split"] += 1
            if calls["split"] == fail_at:
                raise RuntimeError("killed here")
            return real_split(self, *a, **k)

        return f

    sdir = tmp_path / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(stage), "make_embedder", embedder)
        mp.setattr(type(stage), "choose", choose)
        mp.setattr(Removal, "split", split(4))
        with pytest.raises(RuntimeError, match="killed here"):
            run_embedded(Step(stage, sdir, RunDir.open_stage(sdir, "fp")), src)
        tmp = RunDir.open_stage(sdir, "fp")
        assert calls["encode"] > 0 and calls["choose"] == 1 and calls["split"] == 4
        assert not (tmp / VECTORS).exists()  # the decision is made: the vectors are gone
        calls.update(encode=0, choose=0, split=0)
        mp.setattr(Removal, "split", split(None))
        t = run_embedded(Step(stage, sdir, tmp), src)
        assert calls == {"encode": 0, "choose": 0, "split": len(src) - 3}
    RunDir.close_stage(sdir, {})
    assert (t.kept, t.removed) == (want.kept.height, want.n_removed) and t.removed
    assert Shards.of(sdir).collect().equals(want.kept)
    assert pl.read_parquet(sdir / "removed.parquet").equals(want.removed)
    assert _timeless(t.stats) == _timeless(plain(want.stats))


@pytest.mark.parametrize("name", ["dedup.semantic", "tag.clusters", "select.diverse"])
def test_embedded_on_an_empty_table_equals_apply(tmp_path: Path, rows: pl.DataFrame, name: str) -> None:
    stage = registry.get(name)({"n": 5} if name == "select.diverse" else {}, ctx=StageContext(seed=11))
    empty = rows.clear()
    want = stage.apply(empty)
    (tmp_path / "src").mkdir()
    write_shard(empty, tmp_path / "src" / shard_name(0))
    sdir = tmp_path / "out"
    t = run_embedded(Step(stage, sdir, RunDir.open_stage(sdir, "fp")), Shards.of(tmp_path / "src"))
    RunDir.close_stage(sdir, {})
    assert Shards.of(sdir).collect().equals(want.kept)
    assert (t.rows_in, t.kept, t.removed) == (0, 0, 0)


def test_vector_file_slices_and_gathers_like_an_array(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((50, 7)).astype(np.float32)
    f = VectorFile(tmp_path / "v.npy", 50)
    f[np.arange(0, 50, 2)] = x[::2]
    f[np.arange(1, 50, 2)] = x[1::2]
    assert f.shape == (50, 7)
    assert np.array_equal(f[10:20], x[10:20]) and np.array_equal(f[[3, 1, 40]], x[[3, 1, 40]])
    assert VectorFile(tmp_path / "v.npy", 50).shape == (50, 7)  # reopened


EMBEDDING = [
    *STAGES[:3],
    {"dedup.semantic": {"clusters": 4, "eps": 0.1, "report_eps": [0.2]}},
    {"tag.clusters": {"k": 5}},
    {"select.diverse": {"by": "cluster", "tau": 0.7, "fraction": 0.8}},
]


def test_a_run_streams_its_embedding_stages_and_equals_the_whole_table_run(tmp_path: Path, monkeypatch):
    """The quickstart's sources in ten shards through dedup.semantic, tag.clusters and
    select.diverse: no stage reads the table whole, and the ledger, stats (but timings), removed
    files and output bytes equal the run that hands those stages the whole table."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner, "embeds", lambda stage: False)  # the whole-table path
        want = curate.run(_recipe(tmp_path, EMBEDDING), out=tmp_path / "want", train=False)
    _small(monkeypatch)

    def stages_only(*a: Any, **k: Any) -> Any:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(RunDir, "read_kept", lambda sdir: pytest.fail(f"read the whole table of {sdir}"))
            mp.setattr(Shards, "collect", lambda self: pytest.fail("collected the whole table"))
            return run_stages(*a, **k)

    monkeypatch.setattr(app, "run_stages", stages_only)
    res = curate.run(_recipe(tmp_path, EMBEDDING), out=tmp_path / "run", train=False)
    assert len(Shards.of(tmp_path / "run" / "stages" / "00-read")) == 10
    assert _ledger(res.manifest) == _ledger(want.manifest)
    got, ref = res.manifest["stages"][4:], want.manifest["stages"][4:]
    cached = ("seconds", "embedded_now", "from_cache")  # the second run finds the first's vectors
    assert [_timeless(s["stats"], cached) for s in got] == [_timeless(s["stats"], cached) for s in ref]
    assert got[0]["stats"]["embedding"]["from_cache"] == got[0]["rows_in"]
    assert got[0]["removed"] and got[2]["removed"]
    for sdir in sorted((tmp_path / "want" / "stages").glob("0[4-6]-*")):
        mine = tmp_path / "run" / "stages" / sdir.name
        assert Shards.of(mine).collect().equals(Shards.of(sdir).collect()), sdir.name
        for f in sdir.glob("removed.parquet"):
            assert pl.read_parquet(mine / f.name).equals(pl.read_parquet(f)), f
    for name, b in _files(tmp_path / "want").items():
        if not name.endswith(".parquet"):
            assert _files(tmp_path / "run")[name] == b, name
