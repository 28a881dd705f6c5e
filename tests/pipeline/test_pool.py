"""Fused row segments in a process pool (issue 16, ``executors.pool``): the same files as the serial
loop, byte for byte; errors in a worker name the stage and the shard; a dead worker is named and the
run resumes; Ctrl-C and ``kill -9`` of the driver leave no worker behind.

Real data: the quickstart's sources (``test_shards.SOURCES``, ~2,400 rows) cut into ~10 shards of
256 rows, through row filters (one caching its scores), a cleaner that rewrites text, a global
dedup that decides from narrow columns, a materializing global stage and a second row segment.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

import curate
from curate.errors import StageError
from curate.pipeline import registry
from curate.pipeline.executors import pool
from curate.pipeline.shards import Shards
from curate.pipeline.stage import RowStage, StageConfig
from tests.pipeline.test_shards import SOURCES, _recipe, _small

STAGES = [
    {"filter.length": {"field": "assistant", "min_chars": 2, "max_chars": 4000}},
    "filter.refusal",
    {"clean.normalize": {"nfkc": True}},
    {"filter.repetition": {}},
    "dedup.exact",
    {"sample.random": {"fraction": 0.9}},
    {"filter.length": {"min_chars": 30}},
    "filter.refusal",
]
TIMING = {"seconds", "compile_s", "timings"}
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for the workers' pids")


def _pool(tmp: Path, stages: list = STAGES, workers: int = 2) -> curate.recipe.Recipe:
    r = _recipe(tmp, stages)
    r.workers = workers
    return r


def _untimed(x, root: str, drop: set[str]):
    """A manifest or stage record without timings (``drop``), the run's path made relative."""
    if isinstance(x, dict):
        return {k: _untimed(v, root, drop) for k, v in x.items() if k not in drop}
    if isinstance(x, list):
        return [_untimed(v, root, drop) for v in x]
    return x.replace(root, "RUN").replace(str(Path(root).parent), "DIR") if isinstance(x, str) else x


def _every_file(run: Path, drop: set[str] = TIMING) -> dict[str, object]:
    """Every file of the run: bytes, JSON records without timings or the run's folder; the log and
    the report (timestamps, timings) left out."""
    out: dict[str, object] = {}
    for p in sorted(run.rglob("*")):
        name = str(p.relative_to(run))
        if not p.is_file() or name in ("run.log", "report.html"):
            continue
        data = p.read_bytes()
        out[name] = _untimed(json.loads(data), str(run), drop) if p.suffix == ".json" else data
    return out


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mp = pytest.MonkeyPatch()
    _small(mp)
    mp.setattr(pool, "ENABLED", False)
    tmp = tmp_path_factory.mktemp("serial")
    curate.run(_pool(tmp), out=tmp / "run", train=False)
    mp.undo()
    return tmp / "run"


def test_pool_writes_every_file_the_serial_loop_writes(serial: Path, tmp_path: Path, monkeypatch, caplog):
    _small(monkeypatch)
    with caplog.at_level(logging.INFO, logger="curate.pipeline.executors.pool"):
        res = curate.run(_pool(tmp_path), out=tmp_path / "run", train=False)
    ran = [r.getMessage() for r in caplog.records if "worker processes" in r.getMessage()]
    assert ran and all("in 2 worker processes x 1 threads" in m for m in ran), ran
    assert len(list((tmp_path / "run" / "stages" / "00-read").glob("kept-*.parquet"))) == 10
    got, want = _every_file(tmp_path / "run"), _every_file(serial)
    assert got.keys() == want.keys()
    assert [k for k in want if got[k] != want[k]] == []  # Parquet, JSONL, scores: byte for byte
    assert res.manifest["stages"][4]["rows_in"] > 1000


class _Fails(RowStage):
    """Raises, with an exception that does not pickle, on the batch holding one origin."""

    class Config(StageConfig):
        origin: str
        how: str = "raise"
        flag: str | None = None  # only while this file exists (the same recipe, then resumed)

    def apply(self, df: pl.DataFrame):
        armed = self.cfg.flag is None or Path(self.cfg.flag).exists()
        if armed and self.cfg.origin in df["origin"].to_list():
            if self.cfg.how == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            raise _Unpicklable(code=7)
        return super().apply(df)


class _Unpicklable(Exception):
    def __init__(self, *, code: int) -> None:
        super().__init__(f"bad row (code {code})")


def _origin_in_shard(run: Path, n: int) -> str:
    return pl.read_parquet(run / "stages" / "00-read" / f"kept-{n:05d}.parquet")["origin"][5]


def test_an_error_in_a_worker_names_the_stage_and_the_shard(serial: Path, tmp_path: Path, monkeypatch):
    registry.register("test.fails")(_Fails)
    _small(monkeypatch)
    stages = [{"test.fails": {"origin": _origin_in_shard(serial, 6)}}, *STAGES]
    with pytest.raises(StageError) as err:
        curate.run(_pool(tmp_path, stages), out=tmp_path / "run", train=False)
    msg = str(err.value)
    assert msg.startswith("stage test.fails at shard 6 (kept-00006.parquet): _Unpicklable: bad row (code 7)")
    assert "_Unpicklable" in str(err.value.__cause__) and "in the worker process" in str(err.value.__cause__)


def test_a_dead_worker_is_named_and_the_run_resumes(serial: Path, tmp_path: Path, monkeypatch, caplog):
    registry.register("test.fails")(_Fails)
    _small(monkeypatch)
    flag = tmp_path / "armed"
    stages = [
        {"test.fails": {"origin": _origin_in_shard(serial, 3), "how": "die", "flag": str(flag)}},
        *STAGES,
    ]
    curate.run(_pool(tmp_path, stages), out=tmp_path / "want", train=False)  # unarmed: never fires
    flag.touch()
    with pytest.raises(StageError, match=r"killed by signal 9 .* while running shard 3 of 10"):
        curate.run(_pool(tmp_path, stages), out=tmp_path / "run", train=False)
    flag.unlink()
    with caplog.at_level(logging.INFO):
        curate.run(_pool(tmp_path, stages), out=tmp_path / "run", train=False)
    assert any("shards finished by an earlier run; resuming" in r.getMessage() for r in caplog.records)
    assert not list((tmp_path / "run" / "stages").glob("*.tmp"))
    resumed = TIMING | {"reused", "scores_reused"}  # what a resumed run records that it reused
    got, want = _every_file(tmp_path / "run", resumed), _every_file(tmp_path / "want", resumed)
    assert got.keys() == want.keys()
    assert [k for k in want if got[k] != want[k]] == []


DRIVER = """
import sys, time
from curate.pipeline import order, registry, rundir, shards
from curate.pipeline.stage import RowStage, StageConfig
shards.SHARD_ROWS = rundir.SHARD_ROWS = 200
from tests.pipeline.test_pool import _Slow
registry.register("test.slow")(_Slow)
import curate
curate.run(sys.argv[1], out=sys.argv[2], train=False)
"""


class _Slow(RowStage):
    """Half a second a shard: time for the test to find the workers and stop the driver."""

    class Config(StageConfig):
        pass

    def apply(self, df: pl.DataFrame):
        time.sleep(0.5)
        return super().apply(df)


def _workers_of(pid: int) -> list[int]:
    """The pool workers whose parent is ``pid`` (``spawn_main`` in their command line)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmd:
            out.append(int(d.name))
    return out


def _gone(pids: list[int], timeout: float = 10) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(Path(f"/proc/{p}").exists() and "Z" not in _state(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_ctrl_c_or_kill_9_of_the_driver_stops_every_worker(tmp_path: Path, sig: int):
    body = {
        "name": "p",
        "seed": 3,
        "workers": 2,
        "sources": SOURCES[:1],
        "stages": ["test.slow", "filter.refusal"],
    }
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(recipe), str(run)], env=env, cwd=root, stderr=subprocess.PIPE
    )
    tmp = run / "stages" / "01-test.slow.tmp"
    end = time.monotonic() + 300
    while not list(tmp.glob("part-*.pkl")):
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < end
        time.sleep(0.02)
    workers = _workers_of(proc.pid)
    assert len(workers) == 2
    proc.send_signal(sig)
    err = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode != 0
    if sig == signal.SIGINT:
        assert "KeyboardInterrupt" in err
    assert _gone(workers), [(p, _state(p)) for p in workers]
    before = sorted(p.name for p in tmp.iterdir())
    time.sleep(1.0)  # nothing left behind writes into the run directory
    assert sorted(p.name for p in tmp.iterdir()) == before


def test_cli_workers_overrides_the_recipe(tmp_path: Path, monkeypatch, caplog):
    """``curate run --workers 1`` on a recipe with ``workers: 2``: every shard in this process."""
    from click.testing import CliRunner

    from curate.cli import cli

    _small(monkeypatch)
    body = {"name": "w", "seed": 3, "workers": 2, "sources": SOURCES[:2], "stages": ["filter.refusal"]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    args = ["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run"), "--workers", "1"]
    with caplog.at_level(logging.INFO, logger="curate.pipeline.executors.pool"):
        r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert not [x for x in caplog.records if "worker processes" in x.getMessage()]
    m = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert m["recipe"]["workers"] == 1 and len(list((tmp_path / "run" / "stages" / "00-read").iterdir())) > 3
    bad = CliRunner().invoke(cli, [*args[:-1], "0"])
    assert bad.exit_code == 2 and "--workers" in bad.output


def test_a_stage_that_cannot_travel_runs_in_this_process(tmp_path: Path, monkeypatch, caplog):
    """A stage class defined inside a function does not pickle: the segment runs here, with a warning
    naming why, instead of failing in ``multiprocessing`` with a pickling traceback."""

    class Local(RowStage):
        class Config(StageConfig):
            pass

    registry.register("test.local")(Local)
    _small(monkeypatch)
    with caplog.at_level(logging.INFO):
        res = curate.run(_pool(tmp_path, ["test.local", "filter.refusal"]), out=tmp_path / "run", train=False)
    warned = [r.getMessage() for r in caplog.records if "cannot go to workers" in r.getMessage()]
    assert len(warned) == 1 and "test.local + filter.refusal" in warned[0], warned
    assert res.manifest["stages"][1]["rows_in"] == res.manifest["stages"][0]["kept"] > 2000


class _Threads(RowStage):
    """Writes the thread counts it runs with: polars' pool and the kernels' (``ctx.threads``)."""

    class Config(StageConfig):
        pass

    def apply(self, df: pl.DataFrame):
        res = super().apply(df)
        res.kept = res.kept.with_columns(
            score_polars=pl.lit(pl.thread_pool_size()), score_ctx=self.ctx.threads
        )
        return res


def test_workers_split_the_threads(tmp_path: Path, monkeypatch):
    """``workers: 2`` on 2 allowed CPUs: two processes of one thread each (polars' own pool too,
    which reads its size from the environment the worker is started with)."""
    registry.register("test.threads")(_Threads)
    _small(monkeypatch)
    r = _pool(tmp_path, ["test.threads"])
    curate.run(r, out=tmp_path / "run", train=False)
    kept = Shards.of(tmp_path / "run" / "stages" / "01-test.threads").collect()
    assert kept["score_polars"].unique().to_list() == [1] and kept["score_ctx"].unique().to_list() == [1]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the default workers is the CPU count")
def test_default_workers_pool_only_segments_with_per_row_python(tmp_path: Path, monkeypatch, caplog):
    """Without ``workers`` in the recipe, a segment of polars and compiled kernels stays in this
    process (the pool would only add interpreter starts); one holding ``clean.normalize`` pools."""
    _small(monkeypatch)
    pooled = []
    for name, stages in [("kernels", ["filter.refusal", {"filter.repetition": {}}]),
                         ("python", [{"clean.normalize": {}}, "filter.refusal"])]:  # fmt: skip
        (tmp_path / name).mkdir()
        r = _recipe(tmp_path / name, stages)
        assert r.workers is None
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="curate.pipeline.executors.pool"):
            curate.run(r, out=tmp_path / name / "run", train=False)
        pooled.append(any("worker processes" in x.getMessage() for x in caplog.records))
    assert pooled == [False, True]
