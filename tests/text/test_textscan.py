"""The compiled text scanner against the regex definitions it replaces, on real Chinese and English text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curate.text import ngrams, textscan, utf8
from curate.text.textstats import WORD_PATTERN, lines, words

DOCS = Path(__file__).parents[1] / "data" / "dedup" / "real_docs.jsonl"
EDGE = [
    "",
    "don't stop’n go 'x' a''b x' 'y",
    "İstanbul ISTANBUL istanbul",
    "中文abc123_x カタカナーひらがな 한국어",
    "tab\there\u00a0nbsp\u3000ideographic space",
    "control\x00\x07\u200b\ufffd\ue000 chars",
    "emoji 😀 and 𠀀 (astral Han)",
    "UPPER lower Title ÉÀ éà",
]


@pytest.fixture(scope="module")
def texts() -> pl.Series:
    return pl.concat([pl.read_ndjson(DOCS)["text"][:300], pl.Series(EDGE)])


def _regex_counts(texts: pl.Series, pattern: str) -> np.ndarray:
    return pl.select(pl.lit(texts).str.count_matches(pattern)).to_series().to_numpy()


def test_word_tokens_are_the_regex_words(texts: pl.Series) -> None:
    for lowercase in (False, True):
        got = textscan.word_tokens(texts, lowercase=lowercase, workers=2)
        want = pl.select(words(pl.lit(texts), lowercase=lowercase)).to_series()
        assert np.array_equal(np.diff(got.offs), want.list.len().to_numpy())
        flat = want.explode().drop_nulls().to_list()
        # equal words <=> equal hashes, across the whole column
        pairs = set(zip(got.hashes.tolist(), flat, strict=True))
        assert len(pairs) == len({h for h, _ in pairs}) == len(set(flat))
        if not lowercase:  # lowercasing "İ" adds a combining dot; lengths are the source's characters
            assert got.lens.tolist() == [len(w) for w in flat]
    assert np.array_equal(textscan.word_counts(texts), _regex_counts(texts, WORD_PATTERN))


def test_lowercase_words_match_across_case() -> None:
    t = textscan.word_tokens(pl.Series(["Hello HELLO hello", "Straße STRASSE"]), lowercase=True)
    assert t.hashes[0] == t.hashes[1] == t.hashes[2]
    assert t.hashes[3] != t.hashes[4]  # per-character lowercase, no full case folding


def test_class_counts_are_the_regex_classes(texts: pl.Series) -> None:
    got = textscan.class_counts(texts, workers=3)
    assert np.array_equal(got["chars"], texts.str.len_chars().to_numpy())
    for name in ("alnum", "digit", "space", "upper", "lower", "control", "letter"):
        want = _regex_counts(texts, utf8.CLASS_PATTERNS[name])
        assert np.array_equal(got[name], want), name
    assert got["control"][-3] == 5  # NUL, BEL, zero-width space, U+FFFD, private use


def test_space_tokens(texts: pl.Series) -> None:
    n, alpha, longest = textscan.space_tokens(texts, workers=2)
    toks = pl.select(pl.lit(texts).str.extract_all(r"\S+")).to_series()
    assert np.array_equal(n, toks.list.len().to_numpy())
    want_alpha = [sum(any(ch.isalpha() for ch in t) for t in ts) for ts in toks.to_list()]
    assert alpha.tolist() == want_alpha
    assert longest.tolist() == [max(map(len, ts), default=0) for ts in toks.to_list()]


def test_threads_do_not_change_scores(texts: pl.Series) -> None:
    w = textscan.word_tokens(texts, lowercase=True)
    for fn in (ngrams.dup_gram_share, ngrams.top_ngram_char_frac, ngrams.dup_ngram_char_frac):
        assert fn(w, 3, workers=1).to_list() == fn(w, 3, workers=4).to_list()
    assert (
        ngrams.char_rep_ratio(texts, 5, workers=1).to_list()
        == ngrams.char_rep_ratio(texts, 5, workers=4).to_list()
    )


def test_char_classes_cached_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path))
    utf8.char_classes.cache_clear()
    try:
        cls, lower = utf8.char_classes()
        files = list((tmp_path / "charclass").glob("*.npz"))
        assert len(files) == 1
        utf8.char_classes.cache_clear()
        cls2, lower2 = utf8.char_classes()
        assert np.array_equal(cls, cls2) and np.array_equal(lower, lower2)
        assert cls[ord("中")] & utf8.CJK and cls[ord("a")] & utf8.WORD and not cls[ord(" ")] & utf8.WORD
        assert lower[ord("Ä")] == ord("ä")
    finally:
        utf8.char_classes.cache_clear()


def test_line_tokens_are_the_stripped_non_blank_lines(texts: pl.Series) -> None:
    extra = pl.Series(["a\n\n  a \n\tb\r\n b\n", "x  y\nx y\nx\ty\n", "\n\n", " \u3000中文 \n中文"])
    texts = pl.concat([texts, extra])
    got = textscan.line_tokens(texts, workers=2)
    want = pl.select(lines(pl.lit(texts))).to_series()
    assert np.array_equal(np.diff(got.offs), want.list.len().to_numpy())
    flat = want.explode().drop_nulls().to_list()
    assert got.lens.tolist() == [len(x) for x in flat]
    pairs = set(zip(got.hashes.tolist(), flat, strict=True))
    assert len(pairs) == len({h for h, _ in pairs}) == len(set(flat))
    assert ngrams.repeat_shares(got).equals(ngrams.repeat_shares(want))


@pytest.mark.parametrize("char_n,word_n", [(10, 10), (3, 2), (1, 1)])
def test_fused_repetition_equals_the_separate_statistics(texts: pl.Series, char_n: int, word_n: int) -> None:
    texts = pl.concat([texts, pl.Series(["a\n a\n\n b \n a", "ab" * 50, "x " * 30])])
    got = ngrams.repetition(texts, char_n, word_n, workers=2)
    words = textscan.word_tokens(texts, lowercase=True)
    assert got["char_rep_ratio"].tolist() == ngrams.char_rep_ratio(texts, char_n).to_list()
    assert got["word_rep_ratio"].tolist() == ngrams.dup_gram_share(words, word_n).to_list()
    lines = ngrams.repeat_shares(textscan.line_tokens(texts))
    assert got["dup_line_frac"].tolist() == lines["frac"].to_list()
    assert got["dup_line_frac"][-3] == pytest.approx(2 / 4)  # "a" twice again after the first "a"
    m = 101 - char_n  # "abab…": two distinct n-grams, k = floor(sqrt(2)) = 1, the commoner one wins
    assert got["char_rep_ratio"][-2] == pytest.approx(-(-m // 2) / m)
    assert got["word_rep_ratio"][-1] == 1.0
    one = ngrams.repetition(texts, char_n, word_n, workers=1)
    assert all(np.array_equal(one[k], got[k]) for k in got)


def test_collapse_whitespace_is_python_split_join(texts: pl.Series) -> None:
    odd = pl.Series(["\x1c\x1d x\x85y\u2028\u2029z\u1680 ", None, "   ", "\u205fa\u202f\u200ab\u3000"])
    sample = pl.concat([texts, odd])
    got = utf8.collapse_whitespace(sample).to_list()
    assert got == [" ".join((t or "").split()) for t in sample.to_list()]
    assert got[-4:] == ["x y z", "", "", "a b"]


def test_whitespace_table_covers_every_python_space() -> None:
    spaces = [c for c in range(0x110000) if chr(c).isspace()]
    assert max(spaces) < utf8.PY_SPACE_TABLE.size
    assert np.flatnonzero(utf8.PY_SPACE_TABLE).tolist() == spaces
