"""The one definition of "CJK" in curate: the scripts written without spaces between words.

Han, Hiragana and Katakana, as Unicode script properties (``CJK_CLASS``, a Rust/polars regex
class). Hangul is left out on purpose: Korean puts spaces between words, so word counts, word
shingles and stop-word matching already work on it as on English; counting each Hangul syllable as
a word (or shingling Korean by characters) would treat it like Chinese, which it is not. Every
table that needs the distinction is built from this class: the code-point classes of the compiled
kernels (``utf8.char_classes``, so the text scans and the shingles agree) and the word pattern of
the polars rules (``textstats``).
"""

from __future__ import annotations

CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}"
