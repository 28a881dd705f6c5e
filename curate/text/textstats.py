"""Shared polars expressions for rule filters: words, lines, ratios, phrase patterns.

Everything here is an ``pl.Expr`` over a whole string column, so a stage composes them without a
per-row Python loop. "Words" are CJK-aware: each Han/Hiragana/Katakana character is one word (Chinese
and Japanese have no spaces), and any other run of letters, digits or ``_`` (with inner apostrophes,
``don't``) is one word; punctuation is never a word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import polars as pl

from curate.fields import Field, field_text
from curate.text.cjk import CJK_CLASS, cjk_flags

CJK = CJK_CLASS
_NON_CJK_WORD = rf"[\w--[{CJK}]]+"
WORD_PATTERN = rf"[{CJK}]|{_NON_CJK_WORD}(?:['’]{_NON_CJK_WORD})*"
URL_PATTERN = r"(?i)\b(?:https?://|ftp://|www\.)[^\s<>\"'()（）\[\]{}，。；！？]+"
# Terminal punctuation, Latin and CJK: a line or sentence that ends in one of these is complete.
# Scratch column a stage may add while scoring and drops before returning.
TMP = "__curate_text"
TERMINAL_PUNCT = ".!?\"'。！？”’」』…"


def text_of(field: Field) -> pl.Expr:
    """The field's text for every row (never null)."""
    return field_text(field)


def field_series(batch: pl.DataFrame, field: Field) -> pl.Series:
    """The field's text for every row as a Series, for the compiled kernels (``textscan``)."""
    return batch.select(text_of(field)).to_series()


def words(text: pl.Expr, *, lowercase: bool = False) -> pl.Expr:
    """List of CJK-aware words (see module docstring)."""
    src = text.str.to_lowercase() if lowercase else text
    return src.str.extract_all(WORD_PATTERN)


def word_count(text: pl.Expr) -> pl.Expr:
    """Number of CJK-aware words: ``"我们 like tea"`` is 2 + 2 = 4."""
    return text.str.count_matches(WORD_PATTERN).cast(pl.Int64)


def lines(text: pl.Expr) -> pl.Expr:
    """Non-blank lines (a line with only whitespace is not a line), each stripped of its ends."""
    return text.str.split("\n").list.eval(
        pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != "")
    )


def line_count(text: pl.Expr) -> pl.Expr:
    """Number of non-blank lines."""
    return lines(text).list.len().cast(pl.Int64)


def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """``num / den`` as Float64, 0.0 when ``den`` is 0 (an empty text has no share of anything)."""
    return pl.when(den > 0).then(num.cast(pl.Float64) / den.cast(pl.Float64)).otherwise(pl.lit(0.0))


def _phrase_regex(phrase: str, cjk: bool) -> str:
    if cjk:
        # CJK phrases: optional whitespace between characters ("作为一个 AI 语言模型"), either comma
        parts = [r"[,，]" if ch in ",，" else re.escape(ch) for ch in phrase if not ch.isspace()]
        return r"\s*".join(parts)
    esc = re.escape(phrase).replace(r"\ ", r"\s+").replace("'", "['’]")
    return esc.replace(",", r"[,，]")


def phrase_pattern(phrases: Iterable[str], *, case_insensitive: bool = True, regex: bool = False) -> str:
    """One regex alternation for a phrase list, longest first.

    Literal phrases are escaped and made tolerant of typing variants: a space matches any run of
    whitespace, an ASCII apostrophe also matches ’, a comma matches ， too, and a phrase with CJK
    characters allows whitespace between characters ("作为一个 AI 语言模型"). With ``regex`` the
    entries are used as they are. Returns "" for an empty list.
    """
    uniq = sorted({p for p in phrases if p}, key=len, reverse=True)
    parts = uniq if regex else [_phrase_regex(p, c) for p, c in zip(uniq, cjk_flags(uniq), strict=True)]
    if not parts:
        return ""
    flags = "(?i)" if case_insensitive else ""
    return f"{flags}(?:{'|'.join(parts)})"


def count_phrases(text: pl.Expr, pattern: str) -> pl.Expr:
    """Number of non-overlapping matches of ``pattern`` (0 when the pattern is empty)."""
    if not pattern:
        return pl.lit(0, dtype=pl.Int64)
    return text.str.count_matches(pattern).cast(pl.Int64)


def ends_with_any(expr: pl.Expr, chars: Sequence[str] | str) -> pl.Expr:
    """True where ``expr`` ends in one of ``chars``."""
    cls = "".join(re.escape(c) for c in chars)
    return expr.str.contains(f"[{cls}]$")
