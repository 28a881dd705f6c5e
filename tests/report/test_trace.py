"""``curate trace`` on quickstart rows: kept, removed by a filter, removed as a duplicate, truncated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.report.trace import trace

pytestmark = pytest.mark.slow  # the shared quickstart run


def test_removed_by_filter_from_origin(quickstart_run: Path):
    # LawBench-free row: chatterbot's "你好" -> "嗨" has a one-character answer (min_chars 2)
    t = curate.open(quickstart_run).trace("data/chatterbot.prh.jsonl:145")
    assert t.raw is not None and '"response": "嗨"' in t.raw
    assert t.final == "removed by filter.length"
    last = t.steps[-1]
    assert last.outcome == "removed" and "too_short" in last.detail and "threshold 2" in last.detail
    assert last.scores == {"score_chars": 1}


def test_removed_as_duplicate_names_the_survivor(quickstart_run: Path):
    run = curate.open(quickstart_run)
    dup = run.removed("dedup.minhash").row(0, named=True)
    t = trace(run, dup["id"])  # by content id
    assert t.final == "removed by dedup.minhash"
    survivor = run.kept("dedup.minhash").filter(pl.col("id") == dup["dup_of"]).collect()["origin"][0]
    assert f"duplicate of {survivor}" in t.steps[-1].detail


def test_truncated_then_kept(quickstart_run: Path):
    run = curate.open(quickstart_run)
    row = run.output().filter(pl.col("tag_truncate") == "user_cut").row(0, named=True)
    t = run.trace(row["id"][:12])  # an id prefix
    assert t.final == "in the output"
    cut = next(s for s in t.steps if s.stage == "truncate.history")
    assert cut.outcome == "truncated" and "tokens_dropped" in cut.detail
    assert t.training is None  # --no-train


def test_kept_row_by_text_on_the_command_line(quickstart_run: Path):
    run = curate.open(quickstart_run)
    row = run.output().filter(pl.col("source") == "chitchat").row(0, named=True)
    text = row["messages"][0]["content"][:40]
    p = subprocess.run(
        [sys.executable, "-m", "curate", "trace", str(quickstart_run), text],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "result  in the output" in p.stdout or "result  removed" in p.stdout or "held out" in p.stdout
    assert f"origin  {row['origin']}" in p.stdout or "matching rows" in p.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "curate", "trace", str(quickstart_run), "no such text anywhere 1234"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "no input row matches" in bad.stderr
