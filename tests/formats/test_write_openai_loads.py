"""OpenAI ``messages`` JSONL that mixes tool rows with plain rows loads with ``datasets`` as JSONL.

The cause it guards against: ``datasets.load_dataset("json")`` infers the Arrow schema from the
first chunk and casts every later chunk to it. A later chunk may *lack* a column or a struct field
(filled with null) but may not *add* one: a first chunk of plain rows has no ``tools`` column and
message objects of only ``role``/``content``, so the first tool row (``tools``, ``tool_calls``,
``tool_call_id``) fails with "column names don't match"; and tool schemas are free-form JSON, so a
second tool whose ``parameters.properties`` has other keys fails the same way even when tool rows
come first. ``content: null`` beside strings and ``arguments`` (always a JSON string) are fine.
The writer puts the few rows that between them show every key path and value type first.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from curate.formats import read_source, write
from curate.formats.write import to_records
from curate.recipe import SourceSpec
from curate.schema import chat_row, frame

datasets = pytest.importorskip("datasets")

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 16 << 10


def _search_rows() -> pl.DataFrame:
    """Tool rows with a second, differently shaped schema (integer, enum, default), on real pydoc text."""
    from pydoc_data.topics import topics

    tool = [{"type": "function", "function": {
        "name": "search_reference", "description": "Search the Python language reference",
        "parameters": {"type": "object", "properties": {
            "keyword": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "default": 3},
            "section": {"type": "string", "enum": ["statements", "expressions"]}},
            "required": ["keyword", "limit"]}}}]
    rows = []
    for name in ("while", "with", "yield", "raise", "return"):
        call = {"name": "search_reference", "arguments": {"keyword": name, "limit": 2}}
        rows.append(chat_row([
            {"role": "user", "content": f"What does `{name}` do?"},
            {"role": "tool_call", "content": json.dumps(call)},
            {"role": "tool", "content": topics[name].strip()[:500]},
            {"role": "assistant", "content": topics[name].strip().split("\n\n")[1].strip()},
        ], system="你是 Python 助手。", tools=json.dumps(tool), source="search", origin=f"search#{name}"))
    return frame(rows)


@pytest.fixture(scope="module")
def parts() -> dict[str, pl.DataFrame]:
    data = ROOT / "recipes" / "data"
    bot = read_source(SourceSpec(name="bot", path="chatterbot.prh.jsonl"), base_dir=data).table
    law = read_source(SourceSpec(name="law", path="lawbench_consult.jsonl", format="alpaca",
                                 columns={"prompt": "query", "response": "response", "system": "system"}),
                      base_dir=data).table.head(30)
    spec = SourceSpec(name="o", path="openai_tools.jsonl")
    pydoc = read_source(spec, base_dir=ROOT / "tests" / "data").table
    return {"plain": pl.concat([bot, law], how="diagonal_relaxed"), "pydoc": pydoc, "search": _search_rows()}


def _load(path: Path, tmp_path: Path):
    return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"),
                                 chunksize=CHUNK)


@pytest.mark.parametrize("order", [("plain", "pydoc", "search"), ("pydoc", "plain", "search"),
                                   ("pydoc", "search", "plain")])
def test_mixed_tool_and_plain_rows_load_as_jsonl(tmp_path: Path, parts: dict[str, pl.DataFrame],
                                                 order: tuple[str, ...]) -> None:
    df = pl.concat([parts[k] for k in order], how="diagonal_relaxed")
    path = write(df, tmp_path / "train.openai.jsonl", fmt="openai")
    assert path.stat().st_size > 8 * CHUNK  # many chunks
    ds = _load(path, tmp_path)
    assert ds.num_rows == df.height
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    # every record is unchanged OpenAI: tools an array where the row has one, omitted elsewhere
    assert sum("tools" in r for r in recs) == df["tools"].drop_nulls().len() == 8
    assert all(isinstance(r["tools"], list) for r in recs if "tools" in r)
    calls = [m for r in recs for m in r["messages"] if m.get("tool_calls")]
    assert calls and all(isinstance(c["function"]["arguments"], str) for m in calls for c in m["tool_calls"])
    # what datasets hands back is what was written, row for row (absent keys come back as null)
    assert [_norm(r) for r in ds] == [_norm(r) for r in recs]
    # a few rows lead; every other row keeps the writer's order
    orig = [json.dumps(r) for r in to_records(df, "openai")]
    got = [json.dumps(r) for r in recs]
    k = next(k for k in range(len(got)) if got[k:] == [r for r in orig if r not in set(got[:k])])
    assert k <= 3 and sorted(got) == sorted(orig)


def _norm(obj):
    """Drop null-valued keys (datasets fills a key absent from one row with null), decode Json strings."""
    if isinstance(obj, dict):
        return {k: _norm(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_norm(x) for x in obj]
    return obj
