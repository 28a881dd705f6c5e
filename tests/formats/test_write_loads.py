"""Every writer's output loads with the real ``datasets`` JSON/Parquet loader (and so in LLaMA-Factory).

``datasets.load_dataset("json")`` infers a schema from the first chunk of a JSONL file (10 MB by
default) and casts every later chunk to it, so a column that is null or ``[]`` throughout the first
chunk fails on the first string. ``chunksize=16 KiB`` (the loader's own option) puts that chunk
boundary inside these small real files, standing for a >10 MB output. The rows come first without
any optional field (single-turn chatterbot rows: no system, no history, no tools), then
multi-turn chit-chat, LawBench with a system prompt, and tool-using rows.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from curate.formats import read_source, write
from curate.recipe import SourceSpec

datasets = pytest.importorskip("datasets")

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 16 << 10  # the loader's smallest effective chunk (its JSON block size floor)


@pytest.fixture(scope="module")
def messy() -> pl.DataFrame:
    """Real rows, optional fields absent from every row of the first ~70 KB."""
    data = ROOT / "recipes" / "data"
    bot = read_source(SourceSpec(name="bot", path="chatterbot.prh.jsonl"), base_dir=data).table
    single = bot.filter(pl.col("messages").list.len() == 2)
    multi = bot.filter(pl.col("messages").list.len() > 2)
    chit = read_source(SourceSpec(name="chit", path="chitchat.sharegpt.json"), base_dir=data).table
    law = read_source(SourceSpec(name="law", path="lawbench_consult.jsonl", format="alpaca",
                                 columns={"prompt": "query", "response": "response", "system": "system"}),
                      base_dir=data).table
    df = pl.concat([single, chit.head(40), multi, law.head(40)], how="diagonal_relaxed")
    assert df.head(1000)["system"].null_count() == 1000 and df["system"].null_count() < df.height
    return df


@pytest.fixture(scope="module")
def tools() -> pl.DataFrame:
    spec = SourceSpec(name="o", path="openai_tools.jsonl")
    return read_source(spec, base_dir=ROOT / "tests" / "data").table


def _load(path: Path, tmp_path: Path, **kw):
    kind = "parquet" if path.suffix == ".parquet" else "json"
    return datasets.load_dataset(kind, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"),
                                 **kw)


@pytest.mark.parametrize("file_format", ["jsonl", "json", "parquet"])
@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt", "openai", "prompt_response_history", "text",
                                 "canonical"])
def test_output_whose_first_rows_lack_optional_fields_loads(tmp_path: Path, messy: pl.DataFrame, fmt: str,
                                                           file_format: str) -> None:
    path = write(messy, tmp_path / f"train.{fmt}.{file_format}", fmt=fmt, file_format=file_format)
    kw = {} if file_format == "parquet" else {"chunksize": CHUNK}
    ds = _load(path, tmp_path, **kw)
    assert ds.num_rows == messy.height
    for col, feat in ds.features.items():  # no column typed null: a later reader could not extend it
        assert "null" not in repr(feat), (col, feat)
    if fmt in ("alpaca", "prompt_response_history", "sharegpt"):
        systems = ds["system"]
        assert systems.count("") == messy["system"].null_count() and None not in systems
        assert set(systems) - {""} == set(messy["system"].drop_nulls())
    if fmt in ("alpaca", "prompt_response_history"):
        assert sum(1 for h in ds["history"] if h) == messy.filter(pl.col("messages").list.len() > 2).height


@pytest.mark.parametrize("file_format", ["jsonl", "json", "parquet"])
def test_sharegpt_tools_after_plain_rows_load(tmp_path: Path, messy: pl.DataFrame, tools: pl.DataFrame,
                                              file_format: str) -> None:
    df = pl.concat([messy, tools], how="diagonal_relaxed")
    path = write(df, tmp_path / f"t.{file_format}", fmt="sharegpt", file_format=file_format)
    ds = _load(path, tmp_path, **({} if file_format == "parquet" else {"chunksize": CHUNK}))
    assert ds.features["tools"].dtype in ("string", "large_string")
    assert [t for t in ds["tools"] if t] == tools["tools"].drop_nulls().to_list()


def test_openai_omits_absent_tools_and_alpaca_writes_blank_system(tmp_path: Path, messy: pl.DataFrame,
                                                                  tools: pl.DataFrame) -> None:
    """OpenAI's ``tools`` is an optional array (omitted, never null); LLaMA-Factory columns are ``""``."""
    import json

    lines = write(pl.concat([messy.head(2), tools], how="diagonal_relaxed"), tmp_path / "o.jsonl",
                  fmt="openai").read_text(encoding="utf-8").splitlines()
    recs = [json.loads(x) for x in lines]
    assert "tools" not in recs[0] and all(isinstance(r["tools"], list) for r in recs if "tools" in r)
    assert any("tools" in r for r in recs)
    first = json.loads(write(messy, tmp_path / "a.jsonl", fmt="alpaca").read_text().splitlines()[0])
    assert first["system"] == "" and first["history"]  # the first multi-turn row leads: [] has no type


def test_jsonl_lead_row_keeps_every_row(tmp_path: Path, messy: pl.DataFrame) -> None:
    from curate.formats import load_with_rejects

    back = load_with_rejects(write(messy, tmp_path / "p.jsonl", fmt="prompt_response_history"))
    assert sorted(back.table["id"].to_list()) == sorted(messy["id"].to_list())
    assert back.table["system"].null_count() == messy["system"].null_count()  # "" reads back as none
    canon = load_with_rejects(write(messy, tmp_path / "c.jsonl", fmt="canonical"))
    assert canon.table.sort("id")["system"].to_list() == messy.sort("id")["system"].to_list()


def test_eval_set_files_load(tmp_path: Path, messy: pl.DataFrame) -> None:
    """eval/eval.jsonl, mcq.jsonl and open_ended.jsonl (the run's eval seeds) load the same way."""
    from curate.formats.evalset import write_eval_files

    written = write_eval_files(messy.with_columns(domain=pl.lit("general")), tmp_path / "eval", seed=1)
    for key in ("eval", "mcq", "open_ended"):
        ds = _load(written[key], tmp_path, chunksize=CHUNK)
        assert ds.num_rows > 0 and None not in ds["system"], key
