"""Each reader on a real fixture: format, row counts, origins, and what every row holds."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from curate.errors import InputError
from curate.formats import load, load_with_rejects, read_source
from curate.recipe import SourceSpec
from curate.schema import SCHEMA

LAW_COLUMNS = {"prompt": "query", "response": "response", "system": "system"}


def read(data_dir: Path, path: str | list[str], **kw) -> object:
    return read_source(SourceSpec(name="src", path=path, **kw), base_dir=data_dir)


def test_alpaca_json_array(data_dir: Path) -> None:
    res = read(data_dir, "alpaca.json", domain="law", task="qa")
    t = res.table
    assert res.format == "alpaca" and res.files == ["alpaca.json"]
    assert t.schema == pl.Schema(SCHEMA)
    assert t["origin"].to_list() == [f"alpaca.json#{i}" for i in range(6)]
    assert set(t["source"]) == {"src"} and set(t["domain"]) == {"law"} and set(t["task"]) == {"qa"}
    first = t.row(0, named=True)
    # instruction and input become one user turn, joined by a newline
    user = first["messages"][0]["content"]
    assert user.startswith("请你模拟法官") and "\n" in user
    assert t["system"][2] is not None and t["system"][0] is None
    # chatterbot rows carry their history pairs before the final pair
    assert t["messages"].list.len().to_list()[3:] == [4, 12, 4]
    assert t["id"].n_unique() == 6


def test_gzip_jsonl_matches_json_array(data_dir: Path) -> None:
    a = read(data_dir, "alpaca.json").table
    b = read(data_dir, "alpaca.jsonl.gz").table
    assert b["id"].to_list() == a["id"].to_list()
    assert b["origin"].to_list()[:2] == ["alpaca.jsonl.gz:1", "alpaca.jsonl.gz:2"]


def test_zstd_jsonl_and_nested_parquet_agree(data_dir: Path) -> None:
    z = read(data_dir, "chitchat.sharegpt.jsonl.zst")
    p = read(data_dir, "chitchat.sharegpt.parquet")
    assert z.format == p.format == "sharegpt"
    assert z.table.height == 6 and z.table["id"].to_list() == p.table["id"].to_list()
    assert p.table["origin"][5] == "chitchat.sharegpt.parquet#5"
    roles = z.table["messages"][0].struct.field("role").to_list()
    assert roles[:2] == ["user", "assistant"]


def test_csv_multiline_cells_origin_is_start_line(data_dir: Path) -> None:
    res = read(data_dir, "lawbench.csv", format="alpaca", columns=LAW_COLUMNS)
    assert res.table.height == 4 and res.rejects.height == 1
    origins = res.table["origin"].to_list()
    assert origins[0] == "lawbench.csv:2"
    lines = (data_dir / "lawbench.csv").read_text(encoding="utf-8").splitlines()
    for o, row in zip(origins, res.table.iter_rows(named=True), strict=True):
        n = int(o.split(":")[1])
        assert lines[n - 1].lstrip("\"").startswith(row["system"][:10])  # the record starts here
    assert res.rejects["error"][0] == "bad_csv: expected 3 fields, got 2"
    assert res.table["system"][0].startswith("请回答下列问题")


def test_tsv_prompt_response(data_dir: Path) -> None:
    res = read(data_dir, "greetings.tsv")
    assert res.format == "prompt_response_history" and res.table.height == 5
    assert res.table["messages"][0].struct.field("content").to_list() == ["Hello", "Hi"]


def test_openai_tool_calls(data_dir: Path) -> None:
    res = read(data_dir, "openai_tools.jsonl")
    assert res.format == "openai" and res.table.height == 4 and res.rejects.height == 2
    first = res.table.row(0, named=True)
    assert first["system"] is not None and [m["role"] for m in first["messages"]] == ["user", "assistant"]
    call = res.table.row(1, named=True)
    assert [m["role"] for m in call["messages"]] == ["user", "tool_call", "tool", "assistant"]
    assert call["messages"][1]["content"] == '{"name":"pydoc_topic","arguments":{"topic":"assert"}}'
    assert "pydoc_topic" in call["tools"]
    par = res.table.row(3, named=True)
    roles = [m["role"] for m in par["messages"]]
    assert roles == ["user", "assistant", "tool_call", "tool", "tool", "assistant"]
    assert par["messages"][2]["content"].startswith('[{"name":"pydoc_topic"')


def test_prompt_response_history_multi_turn(data_dir: Path) -> None:
    res = read(data_dir, "prh.jsonl")
    assert res.format == "prompt_response_history" and res.table.height == 6
    assert res.table["messages"].list.len().max() > 2
    first = res.table["messages"][0].to_list()
    assert first[0] == {"role": "user", "content": "早上好，你好吗?"}


def test_text_folder_one_doc_per_file_hidden_skipped(data_dir: Path) -> None:
    res = read(data_dir, "docs")
    assert res.format == "text"
    assert res.files == ["docs/break.txt", "docs/lambda.md", "docs/pass.md"]
    t = res.table
    assert t["kind"].to_list() == ["text"] * 3 and t["origin"].to_list()[0] == "docs/break.txt:1"
    assert t["messages"].list.len().to_list() == [0, 0, 0]
    assert t["text"][2].startswith("# pass")


def test_text_split_paragraph_keeps_markdown_fences(data_dir: Path) -> None:
    res = read(data_dir, ["docs/lambda.md", "docs/pass.md"], text_split="paragraph")
    lam = res.table.filter(pl.col("origin").str.starts_with("docs/lambda.md"))
    # title, then the whole fenced block (blank lines inside it do not split)
    assert lam.height == 2 and lam["text"][1].startswith("```") and lam["text"][1].endswith("```")
    assert lam["origin"].to_list() == ["docs/lambda.md:1", "docs/lambda.md:3"]
    pas = res.table.filter(pl.col("origin").str.starts_with("docs/pass.md"))
    assert pas.height > 2 and all("\n\n" not in t for t in pas["text"])


def test_text_split_line(data_dir: Path) -> None:
    res = read(data_dir, "docs/break.txt", text_split="line")
    lines = (data_dir / "docs/break.txt").read_text().splitlines()
    assert res.table.height == sum(1 for x in lines if x.strip())
    assert res.table["origin"][1] == "docs/break.txt:2" and res.table["text"][1] == lines[1]


def test_text_files_refuse_chat_format(data_dir: Path) -> None:
    with pytest.raises(InputError, match="holds documents"):
        read(data_dir, "docs", format="alpaca")


def test_hf_save_to_disk_dataset_dict(data_dir: Path) -> None:
    res = read(data_dir, "hf_alpaca")
    assert res.format == "alpaca" and res.files == ["hf_alpaca"]
    assert res.table["origin"].to_list() == [
        "hf_alpaca/test#0", "hf_alpaca/test#1", *[f"hf_alpaca/train#{i}" for i in range(4)]]
    assert sorted(res.table["id"]) == sorted(read(data_dir, "alpaca.json").table["id"])


def test_glob_and_list_of_shards(tmp_path: Path, data_dir: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    for name in ("alpaca.json", "alpaca.jsonl.gz"):
        shutil.copy(data_dir / name, shards / name)
    (shards / "notes.bin").write_bytes(b"\x00")  # unknown type in a folder: ignored
    res = read_source(SourceSpec(name="s", path="shards/alpaca.*"), base_dir=tmp_path)
    assert res.files == ["shards/alpaca.json", "shards/alpaca.jsonl.gz"] and res.table.height == 12
    folder = read_source(SourceSpec(name="s", path="shards"), base_dir=tmp_path)
    assert folder.files == res.files
    # the format is detected per file (issue 13): a source may mix alpaca and prompt/response files
    both = read(data_dir, ["alpaca.json", "prh.jsonl"], format="auto")
    assert both.format == "mixed: alpaca, prompt_response_history"
    assert both.table.height == 12 and both.rejects.height == 0


def test_limit_counts_rows_and_rejects(data_dir: Path) -> None:
    res = read(data_dir, "alpaca_bad.jsonl", limit=4)
    assert res.table.height + res.rejects.height == 4


def test_missing_path_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_source(SourceSpec(name="s", path="nope.jsonl"), base_dir=tmp_path)
    (tmp_path / "x.bin").write_bytes(b"{}")
    with pytest.raises(InputError, match="file type"):
        read_source(SourceSpec(name="s", path="x.bin"), base_dir=tmp_path)
    ok = read_source(SourceSpec(name="s", path="x.bin", file_type="jsonl", format="text"), base_dir=tmp_path)
    assert ok.rejects["error"].to_list() == ["missing_field: text"]
    with pytest.raises(InputError, match="no readable files"):
        read_source(SourceSpec(name="s", path="*.parquet"), base_dir=tmp_path)


def test_load_relative_to_cwd(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(data_dir.parent)
    t = load("data/prh.jsonl")
    assert t["origin"][0] == "data/prh.jsonl:1" and t["source"][0] == "prh"
    res = load_with_rejects(data_dir / "alpaca_bad.jsonl")
    assert res.rejects["file"][0] == "data/alpaca_bad.jsonl"


def test_empty_file_gives_empty_canonical_table(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("\n\n")
    res = read_source(SourceSpec(name="e", path="e.jsonl", format="sharegpt"), base_dir=tmp_path)
    assert res.table.height == 0 and res.table.schema == pl.Schema(SCHEMA) and res.format == "sharegpt"


def test_hf_plain_dataset_after_select_matches_datasets(tmp_path: Path, data_dir: Path) -> None:
    """A Dataset saved after select() (an indices mapping in memory) reads back in its new order,
    the same as datasets.load_from_disk gives."""
    import datasets

    from curate.formats.files import _load_from_disk, read_hf

    recs = [{"system": None, "history": [], **r}
            for r in pl.read_json(data_dir / "alpaca.json", infer_schema_length=None).to_dicts()]
    datasets.Dataset.from_list(recs).select([4, 0, 2]).save_to_disk(str(tmp_path / "sel"))
    res = read_source(SourceSpec(name="s", path="sel"), base_dir=tmp_path)
    assert res.files == ["sel"] and res.table["origin"].to_list() == ["sel#0", "sel#1", "sel#2"]
    answers = [m[-1]["content"] for m in res.table["messages"].to_list()]
    assert answers == [recs[i]["output"] for i in (4, 0, 2)]
    [(split, items)] = list(read_hf(tmp_path / "sel"))
    assert split == "" and [rec for _, rec, _, _ in items] == _load_from_disk(tmp_path / "sel").to_dicts()


def test_utf8_bom_is_not_data(tmp_path: Path, data_dir: Path) -> None:
    bom = b"\xef\xbb\xbf"
    (tmp_path / "a.jsonl").write_bytes(bom + (data_dir / "prh.jsonl").read_bytes())
    (tmp_path / "a.csv").write_bytes(bom + (data_dir / "lawbench.csv").read_bytes())
    (tmp_path / "a.txt").write_bytes(bom + (data_dir / "docs/break.txt").read_bytes())
    assert read_source(SourceSpec(name="a", path="a.jsonl"), base_dir=tmp_path).rejects.height == 0
    csv = read_source(SourceSpec(name="a", path="a.csv", columns=LAW_COLUMNS), base_dir=tmp_path)
    assert csv.table.height == 4 and csv.table["system"][0].startswith("请回答")
    txt = read_source(SourceSpec(name="a", path="a.txt"), base_dir=tmp_path).table["text"][0]
    assert txt == (data_dir / "docs/break.txt").read_text(encoding="utf-8")
