"""Every malformed record lands in rejects with its origin and a stable reason; nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.errors import InputError
from curate.formats import from_records, read_source
from curate.recipe import SourceSpec
from curate.schema import REJECT_SCHEMA


def read(data_dir: Path, path: str, **kw):
    return read_source(SourceSpec(name="src", path=path, **kw), base_dir=data_dir)


def reasons(res) -> dict[str, str]:
    return dict(zip(res.rejects["origin"], res.rejects["error"], strict=True))


def records_in(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())


def test_alpaca_bad_lines(data_dir: Path) -> None:
    res = read(data_dir, "alpaca_bad.jsonl")
    assert res.rejects.schema == REJECT_SCHEMA
    assert reasons(res) == {
        "alpaca_bad.jsonl:2": "bad_json: Expecting ',' delimiter (column 52)",
        "alpaca_bad.jsonl:3": "bad_utf8: invalid start byte at byte 79",
        "alpaca_bad.jsonl:4": "missing_field: output",
        "alpaca_bad.jsonl:5": "missing_field: instruction",
        "alpaca_bad.jsonl:6": "empty_turn: turn 4",
        "alpaca_bad.jsonl:7": "non_string_content: output (int)",
        "alpaca_bad.jsonl:8": "not_an_object: list",
        "alpaca_bad.jsonl:9": "bad_history: item 1 is not a [prompt, response] pair",
    }
    assert res.table["origin"].to_list() == ["alpaca_bad.jsonl:1", "alpaca_bad.jsonl:11"]
    # every record (blank line 10 is not one) is either a row or a reject
    assert res.table.height + res.rejects.height == records_in(data_dir / "alpaca_bad.jsonl") == 10
    r = res.rejects.row(1, named=True)
    assert r["file"] == "alpaca_bad.jsonl" and r["line"] == 3 and r["source"] == "src"
    assert "Tha\ufffdnk you anyway" in r["raw"]  # the bad byte shown, the rest intact
    assert res.rejects["raw"][0].startswith('{"instruction": "I\'m sorry')


def test_sharegpt_bad_lines(data_dir: Path) -> None:
    res = read(data_dir, "sharegpt_bad.jsonl")
    assert reasons(res) == {
        "sharegpt_bad.jsonl:2": "role_order: conversation starts with assistant",
        "sharegpt_bad.jsonl:3": "role_order: two user turns in a row at turn 2",
        "sharegpt_bad.jsonl:4": "empty_turn: turn 2",
        "sharegpt_bad.jsonl:5": "non_string_content: turn 2 (int)",
        "sharegpt_bad.jsonl:6": "unknown_role: bot",
        "sharegpt_bad.jsonl:7": "misplaced_system: system turn after turn 2",
        "sharegpt_bad.jsonl:8": "role_order: conversation ends with user",
        "sharegpt_bad.jsonl:9": "not_a_list: conversations",
        "sharegpt_bad.jsonl:10": "missing_field: conversations",
        "sharegpt_bad.jsonl:11": "bad_json: Invalid control character at (column 411)",
    }
    assert res.table.height + res.rejects.height == records_in(data_dir / "sharegpt_bad.jsonl")


def test_real_sharegpt_mess(data_dir: Path) -> None:
    res = read(data_dir, "sharegpt.json")
    assert reasons(res) == {
        "sharegpt.json#1": "unknown_role: bing",
        "sharegpt.json#2": "unknown_role: chatgpt",
        "sharegpt.json#3": "role_order: conversation starts with assistant",
        "sharegpt.json#4": "empty_turn: turn 1",
        "sharegpt.json#5": "empty_conversation: no turns",
        "sharegpt.json#6": "unknown_role: chatgpt",
        "sharegpt.json#7": "empty_conversation: no turns",
    }
    assert res.table["origin"].to_list() == ["sharegpt.json#0", "sharegpt.json#8"]
    assert res.table.height + res.rejects.height == 9


def test_roles_mapping_accepts_odd_tags_and_system_turn_becomes_system(data_dir: Path) -> None:
    res = read(data_dir, "sharegpt.json", roles={"assistant": "bing"})
    bing = res.table.filter(res.table["origin"] == "sharegpt.json#1").row(0, named=True)
    assert bing["system"] == "*This conversation is shared from [**ChatHub**](https://chathub.gg)*"
    assert [m["role"] for m in bing["messages"]] == ["user", "assistant"]
    assert bing["messages"][1]["content"].startswith("Hello, this is Bing.")
    # the chatgpt record with two human turns now fails on order rather than on its role
    res2 = read(data_dir, "sharegpt.json", roles={"assistant": "chatgpt"})
    assert reasons(res2)["sharegpt.json#6"] == "role_order: two user turns in a row at turn 2"
    assert "sharegpt.json#2" not in reasons(res2)


def test_openai_bad_records(data_dir: Path) -> None:
    res = read(data_dir, "openai_tools.jsonl")
    assert reasons(res) == {
        "openai_tools.jsonl:5": "bad_tool_call: turn 2 has no function name",
        "openai_tools.jsonl:6": "non_string_content: turn 1 (image_url part)",
    }


def test_text_bad_documents(data_dir: Path) -> None:
    res = read(data_dir, "docs_bad")
    assert reasons(res) == {"docs_bad/blank.txt:1": "empty_text: document is blank",
                            "docs_bad/gbk.txt:1": "bad_utf8: invalid byte in document"}
    assert "\ufffd" in res.rejects["raw"][1]


def test_truncated_json_array_keeps_records_before_the_break(tmp_path: Path, data_dir: Path) -> None:
    text = (data_dir / "sharegpt.json").read_text(encoding="utf-8")
    cut = text.index('"id": "DIa4DUQ_0"') + 30  # mid-record, like the real ShareGPT V3 dump
    (tmp_path / "cut.json").write_text(text[:cut], encoding="utf-8")
    res = read_source(SourceSpec(name="c", path="cut.json"), base_dir=tmp_path)
    assert res.table.height + res.rejects.height == 9
    last = res.rejects.row(res.rejects.height - 1, named=True)
    assert last["origin"] == "cut.json#8" and last["error"].startswith("bad_json: ")
    assert "rest of file unreadable" in last["error"] and last["raw"].startswith('{"id": "DIa4DUQ_0"')


def test_invalid_utf8_inside_json_array_is_one_reject(tmp_path: Path, data_dir: Path) -> None:
    raw = (data_dir / "alpaca.json").read_bytes().replace(b"Good morning", b"Good m\xffrning", 1)
    (tmp_path / "a.json").write_bytes(raw)
    res = read_source(SourceSpec(name="a", path="a.json"), base_dir=tmp_path)
    assert res.table.height == 5 and reasons(res) == {"a.json#3": "bad_utf8: surrogates not allowed"}


def test_lone_surrogate_escape_is_bad_utf8(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_text('{"text": "ok"}\n{"text": "bad \\ud800 half"}\n')
    res = read_source(SourceSpec(name="s", path="s.jsonl", format="text"), base_dir=tmp_path)
    assert res.table.height == 1 and reasons(res) == {"s.jsonl:2": "bad_utf8: lone surrogate escape"}


def test_on_error_fail_names_file_line_and_reason(data_dir: Path) -> None:
    with pytest.raises(InputError, match=r"alpaca_bad\.jsonl:2: bad_json: Expecting ',' delimiter"):
        read_source(SourceSpec(name="s", path="alpaca_bad.jsonl"), base_dir=data_dir, on_error="fail")


@pytest.mark.parametrize(("record", "reason"), [
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "hi"}]},
     "role_order: two user turns in a row at turn 2"),
    ({"messages": [{"role": "assistant", "content": "hi"}]},
     "role_order: conversation starts with assistant"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                   {"role": "system", "content": "s"}]}, "misplaced_system: system message after turn 2"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "bing", "content": "a"}]},
     "unknown_role: bing"),
    ({"messages": [{"content": "q"}]}, "unknown_role: turn 1 has no 'role'"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ["a"]}]},
     "non_string_content: turn 2 (str part)"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None}]},
     "empty_turn: turn 2"),
    ({"messages": [{"role": "user", "content": "q"},
                   {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
                   {"role": "user", "content": "q"}]}, "role_order: user after tool_call at turn 3"),
    ({"messages": "hi"}, "not_a_list: messages"),
    ({"messages": [{"role": "user", "content": "q"}, "a"]}, "bad_turn: turn 2 is not an object"),
])
def test_openai_malformed(record: dict, reason: str) -> None:
    res = from_records([record], format="openai")
    assert res.table.height == 0 and res.rejects["error"].to_list() == [reason]
    assert res.rejects["origin"][0] == "inline#0" and json.loads(res.rejects["raw"][0]) == record


@pytest.mark.parametrize(("record", "reason"), [
    ({"prompt": "q"}, "missing_field: response"),
    ({"prompt": "q", "response": "a", "history": [["q", 3]]}, "non_string_content: turn 2 (int)"),
    ({"prompt": "q", "response": "a", "history": "not json"},
     "bad_history: not a JSON list of [prompt, response] pairs"),
    ({"prompt": "q", "response": "a", "system": 5}, "non_string_content: system (int)"),
    ({"prompt": "", "response": "a"}, "empty_turn: turn 1"),
])
def test_prompt_response_malformed(record: dict, reason: str) -> None:
    res = from_records([record], format="prompt_response_history")
    assert res.rejects["error"].to_list() == [reason]


def test_canonical_malformed() -> None:
    res = from_records([{"kind": "chat", "messages": [{"role": "human", "content": "q"}]},
                        {"kind": "video", "messages": []},
                        {"kind": "text", "text": " "}], format="canonical")
    assert res.rejects["error"].to_list() == [
        "unknown_role: human", "bad_kind: video", "empty_text: document is blank"]
