"""Resume at shard granularity (issue 16): SIGKILL a real ``curate`` process inside a fused row
segment, during output writing and at seeded random times, then re-run: the output is byte-identical
to an uninterrupted run, and a re-run after a kill inside the segment runs only its unfinished
shards, serially and in the process pool (``workers: 2``, ``executors.pool``: the kill -9 of the
driver takes its workers with it). A driver shrinks the shards (200 rows: ~12 shards of the
quickstart's data plus a copy) so that a few thousand real rows exercise the sharded path.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.pipeline.test_crash_safety import _kill_when
from tests.pipeline.test_shards import SOURCES, STAGES

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
ENV["PYTHONPATH"] = os.pathsep.join([str(ROOT), ENV.get("PYTHONPATH", "")]).rstrip(os.pathsep)
DRIVER = """
import logging, sys
from curate.pipeline import order, rundir, shards
shards.SHARD_ROWS = rundir.SHARD_ROWS = 200
order.OUT_ROWS = 250
order.MEMORY_BYTES = 0  # the out-of-core output path, killed too
logging.basicConfig(level=logging.INFO)
import curate
curate.run(sys.argv[1], out=sys.argv[2], train=False)
"""


def _start(recipe: Path, out: Path, log: Path) -> subprocess.Popen:
    err = open(log, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(recipe), str(out)], env=ENV, stdout=subprocess.DEVNULL, stderr=err
    )


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "output").rglob("*")) if p.is_file()
    }


def _recipe(tmp_path: Path, **extra) -> Path:
    """The shards test's recipe (JSONL outputs, compared byte for byte) as a file."""
    body = {
        "name": "k",
        "seed": 3,
        **extra,
        "sources": SOURCES,
        "stages": STAGES,
        "output": {"format": ["sharegpt", "alpaca"], "file_format": "jsonl"},
    }
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    return recipe


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])  # the serial loop; the process pool (executors.pool)
def test_kill9_inside_a_segment_and_at_random_points_then_rerun_is_byte_identical(tmp_path: Path, workers):
    recipe = _recipe(tmp_path, workers=workers)
    base = tmp_path / "base"
    t0 = time.monotonic()
    p = _start(recipe, base, tmp_path / "base.log")
    assert p.wait(timeout=900) == 0, (tmp_path / "base.log").read_text()[-3000:]
    wall = time.monotonic() - t0
    expected = _files(base)
    assert expected

    run = tmp_path / "run"
    seg = run / "stages" / "02-filter.refusal.tmp"
    proc = _start(recipe, run, tmp_path / "k1.log")  # inside the fused filter segment
    assert _kill_when(proc, lambda: len(list(seg.glob("part-*.pkl"))) >= 5)
    done = sorted(p.name for p in seg.glob("part-*.pkl"))
    if workers == 1:  # in order; the pool's workers finish shards in any order
        assert done[:5] == [f"part-{n:05d}.pkl" for n in range(5)]
    assert len(done) >= 5
    proc = _start(recipe, run, tmp_path / "k2.log")  # resumes the segment, then dies writing outputs
    killed = _kill_when(proc, lambda: (run / ".partial" / "output").exists())
    assert "shards finished by an earlier run; resuming" in (tmp_path / "k2.log").read_text()
    assert killed
    for seed in (1, 2, 3):
        delay = random.Random(seed).uniform(0.5, wall)
        proc = _start(recipe, run, tmp_path / f"r{seed}.log")
        t1 = time.monotonic()
        if not _kill_when(proc, lambda t1=t1, delay=delay: time.monotonic() - t1 > delay):
            assert proc.returncode == 0
    p = _start(recipe, run, tmp_path / "last.log")
    assert p.wait(timeout=900) == 0, (tmp_path / "last.log").read_text()[-3000:]
    assert _files(run) == expected
    assert not (run / ".partial").exists() and not list((run / "stages").glob("*.tmp"))


@pytest.mark.slow
def test_kill9_inside_a_planned_stage_then_rerun_is_byte_identical(tmp_path: Path):
    """SIGKILL once ``sample.random`` has planned (``executors.planned``: its plan is on disk, its
    shards being carried out): the re-run resumes from the stored plan and writes the same bytes."""
    recipe = _recipe(tmp_path)
    base = tmp_path / "base"
    p = _start(recipe, base, tmp_path / "base.log")
    assert p.wait(timeout=900) == 0, (tmp_path / "base.log").read_text()[-3000:]
    run = tmp_path / "run"
    tmp = run / "stages" / "05-sample.random.tmp"
    proc = _start(recipe, run, tmp_path / "k1.log")
    assert _kill_when(proc, lambda: (tmp / "plan.pkl").exists())
    planned = (tmp / "plan.pkl").exists()  # False only if the stage closed between the check and the kill
    p = _start(recipe, run, tmp_path / "k2.log")
    assert p.wait(timeout=900) == 0, (tmp_path / "k2.log").read_text()[-3000:]
    if planned:
        assert "sample.random: plan and" in (tmp_path / "k2.log").read_text()
    assert _files(run) == _files(base)
    assert not list((run / "stages").glob("*.tmp"))
