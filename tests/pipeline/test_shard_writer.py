"""The read's shard writer (``shards.ShardWriter``) writes in a background thread while the reader
parses on: the shards must be exactly the parts in order, and a write's error must reach the run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import curate
from curate.pipeline import shards
from curate.pipeline.memo import memo, recall
from curate.pipeline.shards import Shards, ShardWriter

ROWS = curate.load(Path(__file__).resolve().parents[2] / "recipes" / "data" / "chitchat.sharegpt.json").head(
    50
)


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("curate-shards")]


def test_background_shards_are_the_parts_in_order(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(shards, "SHARD_ROWS", 7)
    w = ShardWriter(tmp_path)
    with memo():
        for start in range(0, 50, 5):  # parts of 5 rows cut into shards of 7: every shard spans parts
            w.add(ROWS.slice(start, 5))
        w.close(ROWS.clear())
        s = Shards.of(tmp_path)
        assert s.rows == (7, 7, 7, 7, 7, 7, 7, 1)
        assert all(recall(p) is not None for p in s.paths)  # the memo got them from the writer thread
    assert s.collect()["id"].to_list() == ROWS["id"].to_list()
    assert not _writer_threads()


def test_a_failed_write_is_raised_by_close_and_the_thread_goes(tmp_path: Path):
    gone = tmp_path / "stage-dir-removed-under-the-run"
    w = ShardWriter(gone)
    w.add(ROWS.head(2))
    with pytest.raises(OSError) as e:
        w.close(ROWS.clear())
    assert "stage-dir-removed-under-the-run" in str(e.value)
    assert not _writer_threads()
