"""One CJK table (``curate.text.cjk``): Han and kana, not Hangul, everywhere the kernels and rules ask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import curate
from curate.schema import chat_row, frame, text_row
from curate.text import cjk, shingles, textstats, utf8

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


# ---- one table for word and phrase lists (stop words, fillers, phrase patterns) -------------------

KOREAN_TURN = "저도 잘지내고 있어요. 당신은 오늘 기분이 어떤가요?"  # chatterbot-corpus korean/greetings.yml
# chatterbot-corpus japanese/ai.yml
JAPANESE_TURN = "AIは人間の心の機能を再現するハードウェアとソフトウェアの構築に関わる科学の分野です。"


def test_no_module_keeps_its_own_cjk_range() -> None:
    """The stop-word, filler and phrase code used a hand-written code-point range; now all ask cjk.py."""
    root = Path(curate.__file__).parent
    files = sorted(root.rglob("*.py"))
    own = [p.relative_to(root).as_posix() for p in files if "\\u4e00" in p.read_text(encoding="utf-8")]
    # embed/tokens.py (issue 14, jieba token classes: Han only) arrived after this change; it is its
    # owner's to move onto cjk.py, and listed here so the next range added anywhere fails.
    assert own == ["embed/tokens.py"]


def test_list_entries_are_cjk_by_the_kernel_table_on_real_text() -> None:
    from tests.helpers import chatterbot_dialogues

    by_lang: dict[str, list[str]] = {}
    langs = ("chinese", "japanese", "korean", "english")
    for lang, _, turns in chatterbot_dialogues(langs, files_per_lang=2):
        by_lang.setdefault(lang, []).extend(turns)
    share = {lang: sum(cjk.cjk_flags(t)) / len(t) for lang, t in by_lang.items()}
    assert share["chinese"] > 0.95 and share["japanese"] > 0.95
    assert share["korean"] == 0 and share["english"] == 0  # Hangul is out on purpose
    # the same answer as the compiled kernels' table, character by character
    table = utf8.char_classes()[0]
    for ch in set("".join(by_lang["japanese"][:50] + by_lang["korean"][:50])):
        assert cjk.has_cjk(ch) == bool(table[ord(ch)] & utf8.CJK), ch
    # beyond the old U+4E00-9FFF / kana-block range: Extension B Han, half-width katakana, 々
    assert cjk.cjk_flags(["𠀀", "ｱｲ", "人々", "ー"]) == [True, True, True, False]


def test_korean_list_entries_match_as_words_japanese_ones_as_characters() -> None:
    """Pinned: a Korean stop word is a spaced word (whole-word match); a Japanese one counts its kana."""
    from curate.stages.filter.stopwords import StopwordsFilter

    df = frame([chat_row([("user", "오늘 어때?"), ("assistant", KOREAN_TURN)]), text_row(JAPANESE_TURN)])
    words = ["오늘", "저도", "です", "の"]
    stage = StopwordsFilter({"lists": [], "extra_words": words, "field": "assistant"})
    got = stage.transform(df)["score_stopword_ratio_assistant"][0]
    assert got == pytest.approx(2 / len(KOREAN_TURN.split()))  # 2 of 7 spaced words
    doc = StopwordsFilter({"lists": [], "extra_words": ["です", "の"], "field": "text"}).transform(df)
    n = textstats.word_count(pl.lit(JAPANESE_TURN))
    assert doc["score_stopword_ratio_text"][1] == pytest.approx(
        (2 + JAPANESE_TURN.count("の")) / pl.select(n).item()
    )


def test_korean_phrase_and_filler_follow_the_spaced_word_rules() -> None:
    """A Korean blocked phrase tolerates spacing like English (not per character); a Korean filler
    is removed as a whole word, never from inside a word."""
    from curate.stages.clean.text import FillerWordsCleaner

    pattern = textstats.phrase_pattern(["기분이 어떤가요"])
    hits = pl.select(textstats.count_phrases(pl.lit(pl.Series([KOREAN_TURN, "기분이어떤가요"])), pattern))
    assert hits.to_series().to_list() == [1, 0]  # CJK phrases would match without the space too
    cleaner = FillerWordsCleaner({"lists": [], "extra_words": ["오늘"]})
    new, n = cleaner.rewrite(pl.Series([KOREAN_TURN, "오늘은"]))
    assert new.to_list() == ["저도 잘지내고 있어요. 당신은 기분이 어떤가요?", "오늘은"]
    assert n.to_list()[1] == 0
