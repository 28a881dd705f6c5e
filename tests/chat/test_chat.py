"""curate.chat: one renderer, one encoder, one truncation, with SmolLM2's real tokenizer and real rows.

Counts for mixing must equal what training masks: the same role mapping (``tool_call`` ->
assistant), the same tools placement, the same loss tokens.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from curate.chat import ChatEncoder, ChatRenderer, Encoded, count_tokens, cut_at_boundary, truncate
from curate.formats import read_source
from curate.recipe import SourceSpec
from curate.schema import chat_row, frame
from tests.stages.mix.mixing_samples import chitchat_frame, law_frame

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def tokenizer():
    from curate.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    """Real rows: Chinese legal QA, English chit-chat, and OpenAI tool-calling conversations."""
    tools = read_source(SourceSpec(name="tools", path="openai_tools.jsonl", format="openai"), base_dir=DATA)
    assert any(m["role"] == "tool_call" for c in tools.table["messages"].to_list() for m in c)
    return pl.concat([law_frame().head(30), chitchat_frame().head(30), tools.table], how="diagonal_relaxed")


def test_counts_equal_the_training_mask_including_tool_rows(tokenizer, rows):
    r = ChatRenderer(tokenizer)
    sizes, trained = count_tokens(
        r, rows["system"].to_list(), rows["messages"].to_list(), rows["tools"].to_list()
    )
    enc = ChatEncoder(tokenizer, max_len=10**9)
    for row, n, k in zip(rows.iter_rows(named=True), sizes, trained, strict=True):
        e = enc.encode(row)
        assert isinstance(e, Encoded)
        assert (n, k) == (len(e.ids), sum(e.mask)), row["origin"]


def test_tool_call_is_rendered_as_an_assistant_turn_with_the_schema(tokenizer, rows):
    r = ChatRenderer(tokenizer)
    tool_rows = rows.filter(pl.col("tools").is_not_null())
    text = r.render_rows(
        tool_rows["system"].to_list(), tool_rows["messages"].to_list(), tool_rows["tools"].to_list()
    )
    assert text and all(t is not None and "<|im_start|>tool_call" not in t for t in text)
    assert all("You can call these tools" in t for t in text)  # type: ignore[operator]


def test_cut_at_boundary():
    q = "被告人于2015年1月在超市出售卷烟。经查，违法所得160元；另查明其他事实。请问罪名是什么？"
    assert cut_at_boundary(q, 3, left=True) == "经查，违法所得160元；另查明其他事实。请问罪名是什么？"
    assert cut_at_boundary(q, len(q) - 3, left=True) is None  # the ask alone has no boundary after pos
    assert (
        cut_at_boundary("Version 3.5 is out. It works", 9, left=True) == "It works"
    )  # "3.5" is not a boundary
    assert cut_at_boundary("A long answer. More text here", 20, left=False) == "A long answer."


def test_encoder_truncates_with_the_same_algorithm_as_the_stage(tokenizer):
    turns = []
    for k in range(8):
        turns += [
            ("user", f"Question number {k}. " + "Some filler words here. " * 8),
            ("assistant", f"Answer {k}."),
        ]
    row = chat_row(turns, system="SYSTEM PROMPT")
    full = ChatEncoder(tokenizer, max_len=10_000).encode(row)
    budget = len(full.ids) // 2
    e = ChatEncoder(tokenizer, max_len=budget).encode(row)
    fit = truncate(ChatRenderer(tokenizer), [row["system"]], [row["messages"]], budget=budget)
    assert isinstance(e, Encoded) and len(e.ids) <= budget and e.dropped_exchanges == fit.dropped[0] >= 4
    assert tokenizer.decode(e.ids).endswith("Answer 7.<|im_end|>\n") and fit.size[0] == len(e.ids)


def test_row_helpers_match(tokenizer):
    df = frame([chat_row([("user", "你好"), ("assistant", "您好！")], system="简短回答。")])
    r = ChatRenderer(tokenizer)
    t = r.row_turns(df.row(0, named=True))
    assert [m["role"] for m in t.messages] == ["system", "user", "assistant"] and t.trained == [2]
    assert r.render(t.messages) == r.render_rows(df["system"].to_list(), df["messages"].to_list())[0]
