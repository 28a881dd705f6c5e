"""Reading in chunks (issue 16): records become Arrow every ``CHUNK_ROWS`` good rows, so memory is
bounded by a chunk, and the table, its ids and the rejects are exactly those of one pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from curate.formats import load_with_rejects, read

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize(
    "name",
    ["alpaca_bad.jsonl", "chitchat.sharegpt.jsonl.zst", "greetings.tsv", "prh.jsonl", "openai_tools.jsonl"],
)
def test_chunked_read_is_the_one_pass_read(name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    path = DATA / name
    if name == "alpaca_bad.jsonl":  # 2 good records among 8 bad ones: repeat it to span chunks
        path = tmp_path / name
        path.write_bytes((DATA / name).read_bytes() * 5)
    whole = load_with_rejects(path)
    assert whole.table.height > 3  # more than one chunk of 3
    monkeypatch.setattr(read, "CHUNK_ROWS", 3)
    chunked = load_with_rejects(path)
    assert_frame_equal(chunked.table, whole.table)
    assert_frame_equal(chunked.rejects, whole.rejects)
    assert chunked.format == whole.format
