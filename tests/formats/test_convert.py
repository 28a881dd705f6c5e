"""Converters both ways: field mappings, tool calls, role tags, text rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.errors import InputError, SchemaError
from curate.formats import from_records, read_source, to_records
from curate.recipe import SourceSpec
from curate.schema import chat_row, frame, text_row


def test_lawbench_columns_mapping(tmp_path: Path) -> None:
    rec = {"system": "请回答下列问题", "query": "醉驾影响孩子报考吗？", "response": "回答:可能有影响。"}
    law = {"prompt": "query", "response": "response", "system": "system"}
    res = from_records([rec], format="alpaca", columns=law)
    row = res.table.row(0, named=True)
    assert row["system"] == rec["system"]
    assert row["messages"] == [{"role": "user", "content": rec["query"]},
                               {"role": "assistant", "content": rec["response"]}]
    with pytest.raises(InputError, match="unknown columns key 'answer'"):
        from_records([rec], format="alpaca", columns={"answer": "response"})


def test_alpaca_input_joins_and_blank_system_is_none() -> None:
    res = from_records([{"instruction": "Translate", "input": "你好", "output": "Hello", "system": "  "},
                        {"instruction": "", "input": "only input", "output": "ok"}], format="alpaca")
    assert res.table["messages"][0][0]["content"] == "Translate\n你好"
    assert res.table["messages"][1][0]["content"] == "only input"
    assert res.table["system"].to_list() == [None, None]


def test_sharegpt_tools_and_system_both_kept() -> None:
    rec = {"system": "top", "tools": [{"name": "f"}],
           "conversations": [{"from": "system", "value": "turn0"}, {"from": "human", "value": "q"},
                             {"from": "function_call", "value": '{"name": "f", "arguments": {}}'},
                             {"from": "observation", "value": "42"}, {"from": "gpt", "value": "a"}]}
    row = from_records([rec], format="sharegpt").table.row(0, named=True)
    assert row["system"] == "turn0\n\ntop" and row["tools"] == '[{"name":"f"}]'
    assert [m["role"] for m in row["messages"]] == ["user", "tool_call", "tool", "assistant"]
    out = to_records(frame([row]), "sharegpt")[0]
    assert [t["from"] for t in out["conversations"]] == ["human", "function_call", "observation", "gpt"]
    assert out["tools"] == '[{"name":"f"}]'


def test_sharegpt_with_openai_style_tags_and_custom_tags() -> None:
    rec = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    assert from_records([rec], format="sharegpt").table.height == 1
    custom = {"dialog": [{"speaker": "Q", "said": "q"}, {"speaker": "A", "said": "a"}]}
    res = from_records([custom], format="sharegpt", roles={"user": "Q", "assistant": "A"},
                       columns={"messages": "dialog", "role_tag": "speaker", "content_tag": "said"})
    assert res.table["messages"][0].struct.field("role").to_list() == ["user", "assistant"]
    with pytest.raises(InputError, match="unknown role 'bot'"):
        from_records([custom], format="sharegpt", roles={"bot": "A"})
    out = to_records(res.table, "sharegpt", roles={"user": "Q", "assistant": "A"})[0]
    assert [t["from"] for t in out["conversations"]] == ["Q", "A"]


def test_openai_tool_calls_round_trip(data_dir: Path) -> None:
    res = read_source(SourceSpec(name="o", path="openai_tools.jsonl"), base_dir=data_dir)
    out = to_records(res.table, "openai")
    src = [json.loads(x) for x in (data_dir / "openai_tools.jsonl").read_text().splitlines()[:4]]
    # same messages, up to regenerated call ids and the null content of call-only messages
    fn = out[1]["messages"][1]["tool_calls"][0]["function"]
    src_fn = src[1]["messages"][1]["tool_calls"][0]["function"]
    assert fn["name"] == src_fn["name"] and json.loads(fn["arguments"]) == json.loads(src_fn["arguments"])
    assert out[1]["messages"][2]["tool_call_id"] == out[1]["messages"][1]["tool_calls"][0]["id"]
    par = out[3]["messages"]
    assert par[1]["content"] == "continue" and len(par[1]["tool_calls"]) == 2
    assert [m.get("tool_call_id") for m in par[2:4]] == ["call_1", "call_2"]
    assert out[1]["tools"] == src[1]["tools"] and out[0]["messages"][0]["role"] == "system"
    again = from_records(out, format="openai").table
    assert again["id"].to_list() == res.table["id"].to_list()


def test_openai_broken_arguments_kept_as_text() -> None:
    rec = {"messages": [{"role": "user", "content": "q"},
                        {"role": "assistant",
                         "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}]}
    row = from_records([rec], format="openai").table.row(0, named=True)
    assert json.loads(row["messages"][1]["content"]) == {"name": "f", "arguments": "{oops"}
    call = to_records(frame([row]), "openai")[0]["messages"][1]["tool_calls"][0]
    assert call["function"]["arguments"] == "{oops"


def test_openai_text_parts_joined() -> None:
    rec = {"messages": [{"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
                        {"role": "user",
                         "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                        {"role": "assistant", "content": "c"}]}
    row = from_records([rec], format="openai").table.row(0, named=True)
    assert row["system"] == "be brief" and row["messages"][0]["content"] == "a\nb"


def test_writers_per_format() -> None:
    df = frame([chat_row([("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")],
                         system="sys")])
    assert to_records(df, "alpaca") == [{"instruction": "q2", "input": "", "output": "a2", "system": "sys",
                                         "history": [["q1", "a1"]]}]
    assert to_records(df, "prompt_response_history") == [
        {"prompt": "q2", "response": "a2", "history": [["q1", "a1"]], "system": "sys"}]
    assert to_records(df, "openai")[0]["messages"][0] == {"role": "system", "content": "sys"}
    assert to_records(df, "text") == [{"text": "sys\n\nq1\n\na1\n\nq2\n\na2"}]
    assert to_records(df, "canonical")[0]["id"] == df["id"][0]


def test_writers_refuse_rows_the_format_cannot_hold() -> None:
    turns = [("user", "q"), ("tool_call", '{"name": "f"}'), ("tool", "r"), ("assistant", "a")]
    tools = frame([chat_row(turns, origin="x.jsonl:3")])
    with pytest.raises(SchemaError, match=r"tool_turns_not_alpaca \(first at x.jsonl:3\)") as err:
        to_records(tools, "alpaca")
    assert "convert" in (err.value.hint or "")
    with pytest.raises(SchemaError, match="document_not_sharegpt"):
        to_records(frame([text_row("a document")]), "sharegpt")
    odd = frame([chat_row([("user", "q"), ("assistant", "a"), ("user", "q2")])])
    with pytest.raises(SchemaError, match="not user/assistant pairs"):
        to_records(odd, "alpaca")
    with pytest.raises(SchemaError, match="unknown output format"):
        to_records(odd, "sharegtp")
    assert to_records(frame([text_row("doc")]), "text") == [{"text": "doc"}]
