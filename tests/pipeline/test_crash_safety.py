"""Runs that survive kill -9 and each other: the run-directory lock, outputs renamed into place, the
manifest written last, and readers that refuse an incomplete run (issue 16).

Everything here is a real ``curate run`` subprocess on the shipped quickstart recipe (``--no-train``)
killed with SIGKILL, or a real second process holding the lock; nothing is mocked.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curate.errors import InputError
from curate.pipeline.lock import RunLock, RunLockedError, read_holder
from curate.pipeline.rundir import RunDir

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
ENV["PYTHONPATH"] = os.pathsep.join([str(ROOT), ENV.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def _curate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "curate", *args], env=ENV, capture_output=True, text=True, timeout=900
    )


def _start(recipe: Path, out: Path, log: Path | None = None) -> subprocess.Popen:
    """``curate run`` in the background; stderr to ``log`` (a file, so a full pipe never blocks it)."""
    err = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "curate", "run", str(recipe), "--out", str(out), "--no-train"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )


def _kill_when(proc: subprocess.Popen, ready, *, timeout: float = 600) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; False when it exited first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("the run neither finished nor reached the kill point")


def _files(root: Path) -> dict[str, bytes]:
    """Every byte of the run's deliverables: output/ and eval/."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for d in ("output", "eval")
        for p in sorted((root / d).rglob("*"))
        if p.is_file()
    }


def _holder(run_dir: Path) -> subprocess.Popen:
    """Another process that takes the run dir's lock and keeps it until killed."""
    code = (
        "import sys, time; from curate.pipeline.lock import RunLock\n"
        "with RunLock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(600)\n"
    )
    cmd = [sys.executable, "-c", code, str(run_dir)]
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "locked"
    return p


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted quickstart run (no training): the bytes every other run must reproduce."""
    out = tmp_path_factory.mktemp("baseline") / "run"
    p = _curate("run", str(QUICKSTART), "--out", str(out), "--no-train")
    assert p.returncode == 0, p.stderr[-3000:]
    return out


def test_second_run_is_refused_naming_the_holder(tmp_path: Path):
    run_dir = tmp_path / "run"
    holder = _holder(run_dir)
    try:
        p = _curate("run", str(QUICKSTART), "--out", str(run_dir), "--no-train")
        s = _curate("stats", str(run_dir))
    finally:
        holder.kill()
        holder.wait()
    assert p.returncode == 2, p.stderr[-2000:]
    assert f"in use by another curate run (pid {holder.pid}" in p.stderr
    assert "Traceback" not in p.stderr and "FileNotFoundError" not in p.stderr
    # a reader of the same dir is told a run is writing it, not handed half a run
    assert s.returncode == 2 and f"pid {holder.pid}" in s.stderr and "incomplete" in s.stderr


def test_stale_lock_of_a_dead_pid_is_taken_over(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    holder = _holder(tmp_path)
    holder.send_signal(signal.SIGKILL)  # dies holding the lock: the file still names it
    holder.wait()
    assert read_holder(tmp_path)["pid"] == holder.pid
    with caplog.at_level(logging.WARNING, logger="curate.pipeline.lock"), RunLock(tmp_path):
        assert read_holder(tmp_path)["pid"] == os.getpid()
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"), RunLock(tmp_path):
            pass
    assert f"taking over the lock of pid {holder.pid}" in caplog.text
    assert read_holder(tmp_path) is None  # released cleanly: nothing stale left behind


@pytest.mark.slow
def test_two_concurrent_runs_one_dir(tmp_path: Path, baseline: Path):
    """Two real ``curate run`` processes on one dir: neither crashes; a refused one says who holds it."""
    run_dir = tmp_path / "run"
    a = _start(QUICKSTART, run_dir, tmp_path / "a.log")
    while not read_holder(run_dir) and a.poll() is None:  # a holds the lock (or already finished)
        time.sleep(0.01)
    b = _start(QUICKSTART, run_dir, tmp_path / "b.log")
    a.wait(timeout=900)
    b.wait(timeout=900)
    err_a, err_b = (tmp_path / "a.log").read_text(), (tmp_path / "b.log").read_text()
    codes = sorted([a.returncode, b.returncode])
    for err in (err_a, err_b):
        assert "Traceback" not in err and "FileNotFoundError" not in err, err[-2000:]
    assert codes in ([0, 0], [0, 2])  # [0, 0] only when a finished before b took the lock
    if b.returncode == 2:
        assert f"in use by another curate run (pid {a.pid}" in err_b
    assert _files(run_dir) == _files(baseline)


def _changed_recipe(tmp_path: Path) -> Path:
    (tmp_path / "data").symlink_to(QUICKSTART.parent / "data")
    text = QUICKSTART.read_text(encoding="utf-8").replace("max_chars: 4000", "max_chars: 300")
    assert "max_chars: 300" in text
    recipe = tmp_path / "changed.yaml"
    recipe.write_text(text, encoding="utf-8")
    return recipe


@pytest.mark.slow
def test_killed_rerun_of_changed_recipe_is_not_read_as_complete(tmp_path: Path, baseline: Path):
    from curate.cli.train import load_dataset

    run_dir = tmp_path / "run"
    shutil.copytree(baseline, run_dir)
    recipe = _changed_recipe(tmp_path)
    proc = _start(recipe, run_dir)
    # kill once the new run has started writing (its lock is taken and the old manifest is gone)
    assert _kill_when(proc, lambda: not (run_dir / "manifest.json").exists())
    s = _curate("stats", str(run_dir))
    assert s.returncode == 2 and "incomplete" in s.stderr and "did not finish" in s.stderr, s.stderr
    with pytest.raises(InputError, match="incomplete"):
        load_dataset(run_dir)
    r = _curate("report", str(run_dir))
    assert r.returncode == 2 and "incomplete" in r.stderr
    # the re-run completes, and what readers now see is the changed recipe's run
    p = _curate("run", str(recipe), "--out", str(run_dir), "--no-train")
    assert p.returncode == 0, p.stderr[-3000:]
    m = RunDir.read_manifest(run_dir)
    length = next(st for st in m["recipe"]["stages"] if "filter.length" in json.dumps(st))
    assert "300" in json.dumps(length)
    assert json.loads(_curate("stats", str(run_dir), "--json").stdout)["rows"] == m["output"]["rows"]


@pytest.mark.slow
def test_kill9_at_random_points_then_rerun_is_byte_identical(tmp_path: Path, baseline: Path):
    """Several SIGKILLs in one dir (random times, one during output writing), then a full re-run."""
    expected = _files(baseline)
    run_dir = tmp_path / "run"
    killed = []
    proc = _start(QUICKSTART, run_dir)  # first: kill while the outputs are being written
    killed.append(_kill_when(proc, lambda: (run_dir / ".partial" / "output").exists()))
    for seed in (1, 2, 3):
        delay = random.Random(seed).uniform(0.5, 8.0)
        proc = _start(QUICKSTART, run_dir)
        t0 = time.monotonic()
        killed.append(_kill_when(proc, lambda t0=t0, delay=delay: time.monotonic() - t0 > delay))
        if not killed[-1]:  # it finished before the kill point: the next seed re-runs it
            assert proc.returncode == 0
    assert any(killed)
    p = _curate("run", str(QUICKSTART), "--out", str(run_dir), "--no-train")
    assert p.returncode == 0, p.stderr[-3000:]
    assert _files(run_dir) == expected
    assert not (run_dir / ".partial").exists()
    assert not list((run_dir / "stages").glob("*.tmp"))
