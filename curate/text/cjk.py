"""The one definition of "CJK" in curate: the scripts written without spaces between words.

Han, Hiragana and Katakana, as Unicode script properties (``CJK_CLASS``, a Rust/polars regex
class). Hangul is left out on purpose: Korean puts spaces between words, so word counts, word
shingles and stop-word matching already work on it as on English; counting each Hangul syllable as
a word (or shingling Korean by characters) would treat it like Chinese, which it is not. Every
table that needs the distinction is built from this class: the code-point classes of the compiled
kernels (``utf8.char_classes``, so the text scans and the shingles agree) and the word pattern of
the polars rules (``textstats``), and ``cjk_flags`` for word and phrase lists (stop words, fillers,
phrase patterns).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}"


def cjk_flags(strings: Sequence[str]) -> list[bool]:
    """Which of ``strings`` hold a CJK character (``CJK_CLASS``), for splitting word and phrase lists.

    Evaluated by the same regex engine as the polars rules, in one call over the list, so a list
    entry is "CJK" exactly when the rules would see a CJK character in it: Han (Extension B and up
    included), Hiragana and Katakana (half-width too), never Hangul.
    """
    if not strings:
        return []
    return pl.Series(list(strings), dtype=pl.String).str.contains(f"[{CJK_CLASS}]").to_list()


def has_cjk(text: str) -> bool:
    """True when ``text`` holds a CJK character (see ``cjk_flags``)."""
    return cjk_flags([text])[0]
