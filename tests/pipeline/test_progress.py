"""Progress, run log and compile time (issue 13 items 5-6)."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path

import pytest

from curate.pipeline.progress import compile_clock, mode, status

DATA = Path(__file__).resolve().parents[1] / "data"


def test_heartbeat_off_a_terminal(caplog):
    assert mode(None) == "heartbeat"  # pytest's stderr is not a TTY
    assert mode(False) == "off" and mode(True) == "bar"
    with caplog.at_level(logging.INFO, logger="curate.pipeline.progress"), \
            status("mix.ratio on 9,000 rows", "heartbeat", every_s=0.01):
        deadline = time.monotonic() + 10
        while "still running" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
    assert "still running: mix.ratio on 9,000 rows" in caplog.text


def test_compile_clock_sees_a_compile_not_a_reuse():
    from curate.text.jit import nb

    @nb.njit(cache=False)
    def add_one(x):
        return x + 1

    with compile_clock() as first:
        add_one(1)
    with compile_clock() as again:
        add_one(2)
    assert first.seconds > 0 and again.seconds == 0


def test_run_writes_run_log_with_developer_notes_kept_off_the_console(tmp_path, monkeypatch, capsys):
    from curate.cli import main

    shutil.copy(DATA / "alpaca.json", tmp_path / "alpaca.json")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nsources:\n  - {name: a, path: alpaca.json, license: apache-2.0}\n"
                      "stages:\n  - filter.language: {}\n  - dedup.minhash: {}\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["curate", "run", str(recipe), "--out", str(tmp_path / "run")])
    main()
    out = capsys.readouterr()
    log = (tmp_path / "run" / "run.log").read_text(encoding="utf-8")
    assert "per-row Python" in log and "stage dedup.minhash" in log
    assert "per-row Python" not in out.err + out.out
    m = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))
    assert all("compile_s" in s for s in m["stages"][1:])
    assert "log:" in out.out


@pytest.mark.slow  # compiles every kernel once (~25 s of CPU; 90 s wall on 2 busy cores)
def test_cache_warm_compiles_ahead_so_a_first_run_has_no_compile(tmp_path):
    import os
    import subprocess

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "nb"), "HF_HUB_OFFLINE": "1"}
    warm = subprocess.run([sys.executable, "-m", "curate", "cache", "warm"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert warm.returncode == 0, warm.stderr[-2000:]
    shutil.copy(DATA / "alpaca.json", tmp_path / "alpaca.json")
    (tmp_path / "r.yaml").write_text("name: r\nsources:\n  - {name: a, path: alpaca.json}\n"
                                     "stages:\n  - dedup.minhash: {}\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "curate", "run", "r.yaml"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    m = json.loads((tmp_path / "runs" / "r" / "manifest.json").read_text(encoding="utf-8"))
    assert m["stages"][1]["compile_s"] == 0
