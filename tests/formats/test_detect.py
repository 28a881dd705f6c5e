"""Format detection: by keys, by vote, honouring columns, and saying what it chose."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from curate.errors import InputError
from curate.formats import detect_format, read_source
from curate.recipe import SourceSpec


@pytest.mark.parametrize(("records", "fmt"), [
    ([{"instruction": "a", "input": "", "output": "b"}], "alpaca"),
    ([{"conversations": [{"from": "human", "value": "a"}]}], "sharegpt"),
    ([{"messages": [{"from": "human", "value": "a"}]}], "sharegpt"),
    ([{"messages": [{"role": "user", "content": "a"}], "tools": None}], "openai"),
    ([{"messages": [{"role": "user", "content": "a"}], "kind": "chat", "id": "x"}], "canonical"),
    ([{"kind": "text", "text": "doc", "messages": []}], "canonical"),
    ([{"prompt": "a", "response": "b", "history": []}], "prompt_response_history"),
    ([{"text": "a document"}], "text"),
])
def test_detect_by_keys(records: list, fmt: str) -> None:
    assert detect_format(records) == fmt


def test_majority_vote_survives_broken_records() -> None:
    recs = [{"prompt": "a", "response": "b"}] * 5 + [{"instruction": "x"}, "junk", None]
    assert detect_format(recs) == "prompt_response_history"


def test_columns_steer_detection() -> None:
    law = [{"system": "s", "query": "q", "response": "r"}]
    with pytest.raises(InputError, match=r"keys \['query', 'response', 'system'\]") as err:
        detect_format(law)
    assert "columns" in (err.value.hint or "")
    assert detect_format(law, columns={"prompt": "query", "response": "response"}) == "alpaca"
    assert detect_format([{"dialog": [{"speaker": "a", "said": "b"}]}],
                         columns={"messages": "dialog", "role_tag": "speaker"}) == "sharegpt"
    assert detect_format([{"body": "doc"}], text_field="body") == "text"


def test_detection_is_logged_and_returned(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="curate.formats.read"):
        res = read_source(SourceSpec(name="chat", path="chitchat.sharegpt.parquet"), base_dir=data_dir)
    assert res.format == "sharegpt"
    assert "source chat: detected format sharegpt from chitchat.sharegpt.parquet" in caplog.text


def test_undetectable_source_names_it(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"a": 1}\n')
    with pytest.raises(InputError, match=r"source x: cannot detect the format from keys \['a'\]"):
        read_source(SourceSpec(name="x", path="x.jsonl"), base_dir=tmp_path)


def test_all_bad_lines_still_end_in_rejects(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text("{bad\n{worse\n")
    res = read_source(SourceSpec(name="x", path="x.jsonl"), base_dir=tmp_path)
    assert res.rejects.height == 2 and res.table.height == 0 and res.format == "unknown"
    # a later file with good records still gets detected
    (tmp_path / "y.jsonl").write_text('{"text": "a document"}\n')
    res = read_source(SourceSpec(name="x", path="*.jsonl"), base_dir=tmp_path)
    assert res.rejects.height == 2 and res.table.height == 1 and res.format == "text"
