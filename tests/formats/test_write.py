"""Writers: every format x file format writes a file that reads back to the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from curate.errors import SchemaError
from curate.formats import load_with_rejects, read_source, to_records, write
from curate.recipe import SourceSpec

FORMATS = ("alpaca", "sharegpt", "openai", "prompt_response_history", "canonical")
FILES = ("jsonl", "json", "parquet")


@pytest.fixture(scope="module")
def chats() -> pl.DataFrame:
    """Real multi-turn rows (chatterbot with history, LawBench with a system prompt)."""
    data = Path(__file__).resolve().parents[1] / "data"
    return read_source(SourceSpec(name="a", path="alpaca.json"), base_dir=data).table


@pytest.fixture(scope="module")
def tools() -> pl.DataFrame:
    data = Path(__file__).resolve().parents[1] / "data"
    return read_source(SourceSpec(name="o", path="openai_tools.jsonl"), base_dir=data).table


@pytest.mark.parametrize("file_format", FILES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_write_then_read_back(tmp_path: Path, chats: pl.DataFrame, fmt: str, file_format: str) -> None:
    path = write(chats, tmp_path / "out" / f"train.{fmt}.{file_format}", fmt=fmt, file_format=file_format)
    assert path.exists()
    back = load_with_rejects(path)
    assert back.format == fmt and back.rejects.height == 0
    expected = chats
    if file_format == "jsonl" and fmt in ("alpaca", "prompt_response_history"):
        # the first multi-turn row leads, so a chunked reader learns history's type (write.py)
        lead = chats.with_row_index("i").filter(pl.col("messages").list.len() > 2)["i"][0]
        assert lead > 0
        expected = pl.concat([chats[lead], chats[:lead], chats[lead + 1:]])
    assert back.table["id"].to_list() == expected["id"].to_list()
    assert back.table["system"].to_list() == expected["system"].to_list()


@pytest.mark.parametrize("file_format", FILES)
@pytest.mark.parametrize("fmt", ("sharegpt", "openai", "canonical"))
def test_tool_rows_survive_every_file_format(tmp_path: Path, tools: pl.DataFrame, fmt: str,
                                             file_format: str) -> None:
    path = write(tools, tmp_path / f"t.{file_format}", fmt=fmt, file_format=file_format)
    back = load_with_rejects(path)
    assert back.format == fmt and back.table["id"].to_list() == tools["id"].to_list()
    assert back.table["tools"].to_list() == tools["tools"].to_list()


@pytest.mark.parametrize("file_format", FILES)
def test_text_format(tmp_path: Path, data_dir: Path, file_format: str) -> None:
    docs = read_source(SourceSpec(name="d", path="docs"), base_dir=data_dir).table
    back = load_with_rejects(write(docs, tmp_path / f"d.{file_format}", fmt="text", file_format=file_format))
    assert back.format == "text" and back.table["text"].to_list() == docs["text"].to_list()
    assert back.table["id"].to_list() == docs["id"].to_list()


def test_json_layout_and_canonical_parquet_keeps_extra_columns(tmp_path: Path, chats: pl.DataFrame) -> None:
    p = write(chats, tmp_path / "a.json", fmt="alpaca", file_format="json")
    lines = p.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == chats.height + 2
    assert json.loads(p.read_text(encoding="utf-8"))[0] == to_records(chats, "alpaca")[0]
    assert "请你模拟法官" in lines[1]  # UTF-8, not \u escapes
    scored = chats.with_columns(score_chars=pl.lit(1.5))
    q = write(scored, tmp_path / "c.parquet", fmt="canonical", file_format="parquet")
    assert pl.read_parquet(q).schema == scored.schema


def test_empty_table_and_bad_file_format(tmp_path: Path, chats: pl.DataFrame) -> None:
    p = write(chats.head(0), tmp_path / "e.parquet", fmt="sharegpt", file_format="parquet")
    assert pl.read_parquet(p).columns == ["conversations", "system", "tools"]
    assert write(chats.head(0), tmp_path / "e.jsonl", fmt="alpaca").read_text() == ""
    with pytest.raises(SchemaError, match="unknown file_format"):
        write(chats, tmp_path / "x.csv", fmt="alpaca", file_format="csv")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["sharegpt", "text", "canonical"])
def test_jsonl_from_polars_writer_has_orjson_bytes(chats: pl.DataFrame, tmp_path: Path, fmt: str) -> None:
    """The formats built as frames are written by polars' NDJSON writer: byte for byte what
    ``orjson.dumps`` of each record gives, including every escape JSON has."""
    import orjson

    from curate.schema import text_row

    edge = "a\x00b\x1f\x7f\u2028\u2029\"\\ \t\r\n\U0001f600 é\x08\x0c"
    df = chats
    if fmt != "sharegpt":
        df = pl.concat([chats, pl.DataFrame([text_row(edge, origin="edge")], schema=chats.schema)])
    path = write(df, tmp_path / "out.jsonl", fmt=fmt)
    want = b"".join(orjson.dumps(r) + b"\n" for r in to_records(df, fmt)) if fmt != "canonical" else None
    if fmt == "canonical":
        filled = df.with_columns(pl.col([c for c, t in df.schema.items() if t == pl.Utf8]).fill_null(""))
        want = b"".join(orjson.dumps(r) + b"\n" for r in filled.to_dicts())
    assert path.read_bytes() == want
