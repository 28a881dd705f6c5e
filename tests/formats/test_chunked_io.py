"""Reading and writing in chunks (issue 16): records exist as Python objects for one chunk at a time,
so memory is bounded by a chunk, and the table, ids, rejects and written bytes are those of one pass."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from curate.formats import load_with_rejects, read

write_mod = importlib.import_module("curate.formats.write")  # the package exports a function `write`

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


@pytest.mark.parametrize("fmt", ["sharegpt", "alpaca", "openai", "text"])
@pytest.mark.parametrize("file_format", ["jsonl", "json"])
def test_sliced_write_is_byte_identical(fmt: str, file_format: str, monkeypatch, tmp_path: Path):
    from curate.formats import write

    df = load_with_rejects(DATA / "chitchat.sharegpt.jsonl.zst").table
    one = write(df, tmp_path / f"one.{file_format}", fmt=fmt, file_format=file_format).read_bytes()
    monkeypatch.setattr(write_mod, "WRITE_ROWS", 4)
    sliced = write(df, tmp_path / f"sliced.{file_format}", fmt=fmt, file_format=file_format).read_bytes()
    assert sliced == one and len(one) > 100
    empty = write(df.clear(), tmp_path / f"empty.{file_format}", fmt=fmt, file_format=file_format)
    assert empty.read_bytes() == (b"[\n\n]\n" if file_format == "json" else b"")
