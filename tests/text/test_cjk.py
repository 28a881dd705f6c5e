"""One CJK table (``curate.text.cjk``): Han and kana, not Hangul, everywhere the kernels and rules ask."""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.text import shingles, textstats, utf8

KOREAN = "오늘 날씨가 정말 좋네요 우리 공원에 산책하러 갈까요"  # spaces between words
CHINESE = "今天天气很好，我们去公园散步吧。"


def test_shingle_classes_come_from_the_kernel_table() -> None:
    fold, cls = shingles.char_tables()
    kernel_cjk = (utf8.char_classes()[0] & utf8.CJK) != 0
    assert np.array_equal(cls == shingles.CJK, kernel_cjk[fold] & (cls != shingles.SEP))
    for ch in "中日本ひらがなカタカナ〇":
        assert cls[ord(ch)] == shingles.CJK, ch
    for ch in "한국어가":
        assert cls[ord(ch)] == shingles.WORD, ch  # Korean is a spaced script: words, not characters


def test_korean_is_shingled_and_counted_by_words_chinese_by_characters() -> None:
    _, _, mode = shingles.shingle_hashes(pl.Series([KOREAN, CHINESE]), unit="auto")
    assert mode.tolist() == [0, 1]
    counts = pl.DataFrame({"t": [KOREAN, CHINESE]}).select(textstats.word_count(pl.col("t")))[:, 0]
    assert counts.to_list() == [len(KOREAN.split()), 14]  # 14 Han characters, punctuation is no word
