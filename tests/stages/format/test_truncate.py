"""truncate.history on real multi-turn chit-chat and long Chinese legal QA.

Invariants checked on every kept row: it fits, the final assistant turn is intact (unless the policy
is to cut it), and a shortened history starts with a user turn.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from curate.pipeline.stage import StageContext
from curate.schema import chat_row, frame
from curate.stages.format.truncate import TruncateHistory

_spec = importlib.util.spec_from_file_location(
    "mixing_samples", Path(__file__).parents[1] / "mix" / "mixing_samples.py"
)
samples = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(samples)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def convs() -> pl.DataFrame:
    return pl.concat([samples.chitchat_frame(), samples.law_frame()])


@pytest.fixture
def ctx() -> StageContext:
    return StageContext(models=samples.ByteHub())


def _chars(row: dict) -> int:
    return len(row["system"] or "") + sum(len(m["content"]) for m in row["messages"])


def _check_invariants(before: pl.DataFrame, kept: pl.DataFrame, *, answer_cut_allowed: bool = False) -> None:
    orig = {r["origin"]: r for r in before.to_dicts()}
    for row in kept.to_dicts():
        src = orig[row["origin"]]
        if row["score_turns_dropped"] > 0:
            assert row["messages"][0]["role"] == "user"
            assert (
                row["messages"] == src["messages"][row["score_turns_dropped"] :]
                or row["tag_truncate"] != "history"
            )
        assert row["system"] == src["system"]
        if src["messages"][-1]["role"] == "assistant" and not (
            answer_cut_allowed and row["tag_truncate"] == "answer_cut"
        ):
            assert row["messages"][-1] == src["messages"][-1]


def test_chars_budget(convs: pl.DataFrame):
    res = TruncateHistory({"max_chars": 800}).apply(convs)
    assert all(_chars(r) <= 800 for r in res.kept.to_dicts())
    _check_invariants(convs, res.kept)
    s = res.stats
    assert s["rows_truncated"] > 20 and s["turns_dropped"] == res.kept["score_turns_dropped"].sum()
    assert s["chars_dropped"] == sum(
        _chars(r) for r in convs.filter(pl.col("origin").is_in(res.kept["origin"].implode())).to_dicts()
    ) - sum(_chars(r) for r in res.kept.to_dicts())
    assert res.kept.height + res.n_removed == convs.height
    untouched = res.kept.filter(pl.col("tag_truncate") == "none")
    assert (untouched["score_turns_dropped"] == 0).all()


def test_token_budget_with_template_is_exact(convs: pl.DataFrame, ctx: StageContext):
    tok = samples.byte_tokenizer()
    res = TruncateHistory({"max_tokens": 900}, ctx=ctx).apply(convs)
    for r in res.kept.to_dicts():
        conv = ([{"role": "system", "content": r["system"]}] if r["system"] else []) + r["messages"]
        n = len(tok(tok.apply_chat_template(conv, tokenize=False), add_special_tokens=False)["input_ids"])
        assert n == r["score_tokens_rendered"] <= 900
    _check_invariants(convs, res.kept)
    assert res.stats["rows_history_dropped"] > 10 and res.stats["tokens_dropped"] > 0


def test_left_truncates_the_user_turn_of_a_long_last_exchange_at_a_sentence_boundary(ctx: StageContext):
    long_q = (
        "".join(f"Background sentence number {k} goes here. " for k in range(40)) + "So what is the answer?"
    )
    df = frame(
        [
            chat_row(
                [("user", "hi"), ("assistant", "hello"), ("user", long_q), ("assistant", "42")],
                system="Be brief.",
            )
        ]
    )
    res = TruncateHistory({"max_chars": 300}, ctx=ctx).apply(df)
    row = res.kept.to_dicts()[0]
    assert row["tag_truncate"] == "user_cut" and row["score_turns_dropped"] == 2
    q = row["messages"][0]["content"]
    assert q.endswith("So what is the answer?") and q.startswith("Background sentence number")
    assert long_q.endswith(q) and long_q[: len(long_q) - len(q)].endswith(". ")  # cut after a sentence
    assert row["messages"][-1]["content"] == "42" and 250 < _chars(row) <= 300


def test_default_never_cuts_inside_a_word_or_sentence(ctx: StageContext):
    """Issue 11 item 4: the old default cut the question at a token boundary ("诉我说修好了…");
    now every cut starts right after 。！？；.!?; or a newline, and a turn without one is removed."""
    law = samples.law_frame()
    res = TruncateHistory({"max_tokens": 1000}, ctx=ctx).apply(law)
    orig = {r["origin"]: r["messages"][0]["content"] for r in law.to_dicts()}
    cut = res.kept.filter(pl.col("tag_truncate") == "user_cut").to_dicts()
    assert cut, "the sample must exercise the cut"
    for r in cut:
        q, full = r["messages"][0]["content"], orig[r["origin"]]
        assert full.endswith(q)
        head = full[: len(full) - len(q)]
        assert head.rstrip(" ")[-1] in "。！？；.!?;\n", (head[-20:], q[:20])
    nobound = frame([chat_row([("user", "背景" * 400 + "问题是什么"), ("assistant", "答案")])])
    gone = TruncateHistory({"max_tokens": 100}, ctx=ctx).apply(nobound)
    assert gone.kept.height == 0 and gone.removed["reason"].to_list() == ["no_sentence_boundary"]
    assert gone.stats["rows_removed_no_boundary"] == 1


def test_policies_truncate_answer_and_remove(ctx: StageContext):
    long_a = "".join(f"Step {k} is done. " for k in range(60))
    df = frame([chat_row([("user", "explain"), ("assistant", long_a)])])
    cut = TruncateHistory({"max_tokens": 200, "on_long_last_turn": "truncate_answer"}, ctx=ctx).apply(df)
    row = cut.kept.to_dicts()[0]
    assert row["tag_truncate"] == "answer_cut" and long_a.startswith(row["messages"][-1]["content"])
    assert row["messages"][-1]["content"].endswith("is done.")  # ends on a whole sentence
    assert row["score_tokens_rendered"] <= 200
    gone = TruncateHistory({"max_tokens": 200, "on_long_last_turn": "remove"}, ctx=ctx).apply(df)
    assert gone.kept.height == 0 and gone.removed["reason"].to_list() == ["last_turn_too_long"]
    assert gone.removed["messages"].to_list() == df["messages"].to_list()  # removed rows are unmodified
    assert gone.stats["rows_removed_too_long"] == 1


def test_warns_when_a_task_is_damaged(ctx: StageContext):
    law = samples.law_frame().with_columns(task=pl.lit("consult"))
    res = TruncateHistory({"max_tokens": 300}, ctx=ctx).apply(
        pl.concat([law, samples.chitchat_frame()], how="diagonal_relaxed")
    )
    assert any(w.startswith("task consult:") and "cut or removed" in w for w in res.warnings)
    assert not any("chitchat" in w for w in res.warnings)
    quiet = TruncateHistory({"max_tokens": 300, "warn_fraction": 1.0}, ctx=ctx).apply(law)
    assert quiet.warnings == []


def test_history_never_starts_with_assistant(ctx: StageContext):
    # starts with an assistant greeting and has a tool exchange; only whole user-led exchanges go
    msgs = [("assistant", "Welcome!"), ("user", "a" * 100), ("assistant", "b" * 100), ("user", "weather?"),
            ("tool_call", '{"name": "w"}'), ("tool", "sunny"), ("assistant", "It is sunny.")]  # fmt: skip
    res = TruncateHistory({"max_chars": 120}, ctx=ctx).apply(frame([chat_row(msgs)]))
    row = res.kept.to_dicts()[0]
    assert [m["role"] for m in row["messages"]] == ["user", "tool_call", "tool", "assistant"]
    assert row["score_turns_dropped"] == 3


def test_documents_pass_and_config_needs_one_budget(ctx: StageContext):
    from curate.schema import text_row

    df = frame([text_row("x" * 5000)])
    res = TruncateHistory({"max_chars": 10}, ctx=ctx).apply(df)
    assert res.kept.height == 1 and res.kept["tag_truncate"].to_list() == ["none"]
    with pytest.raises(ValidationError):
        TruncateHistory.Config()
    with pytest.raises(ValidationError):
        TruncateHistory.Config(max_chars=10, max_tokens=10)


@pytest.mark.slow
def test_real_smollm2_template_fits(convs: pl.DataFrame):
    from curate.models import load_tokenizer

    tok = load_tokenizer("smollm2-135m")
    sample = convs.head(80)
    res = TruncateHistory({"max_tokens": 256}).apply(sample)
    for r in res.kept.to_dicts():
        conv = ([{"role": "system", "content": r["system"]}] if r["system"] else []) + r["messages"]
        assert len(tok.apply_chat_template(conv, tokenize=True, return_dict=True)["input_ids"]) <= 256
    _check_invariants(sample, res.kept)
    assert res.stats["rows_truncated"] > 10
