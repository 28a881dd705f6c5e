"""Word-list ratios: stopwords (natural prose has many) and flagged words (profanity, sexual terms)."""

from __future__ import annotations

import re
from functools import cached_property

import polars as pl
from pydantic import Field as PydField

from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule
from curate.stages.filter.base import FieldConfig, limit_fields, score_name
from curate.text import wordlists
from curate.text.cjk import cjk_flags
from curate.text.textstats import CJK, ratio, text_of, word_count, words


def list_hits(text: pl.Expr, entries: tuple[str, ...]) -> pl.Expr:
    """Words of ``text`` that belong to ``entries``, in CJK-aware word units.

    Latin entries match whole lowercased words; a contraction is one word (``it's``, as in
    Data-Juicer), curly apostrophes read as straight ones. CJK entries match as substrings (longest first),
    and each CJK character inside a match counts as one word, the same unit ``word_count`` uses; so
    ``我们的`` against [我们, 的] is 3 of 3 words.
    """
    flags = cjk_flags(entries)
    latin = [e.lower() for e, c in zip(entries, flags, strict=True) if not c]
    cjk = sorted((e for e, c in zip(entries, flags, strict=True) if c), key=len, reverse=True)
    hits = pl.lit(0, dtype=pl.Int64)
    if latin:
        straight = text.str.replace_all("’", "'", literal=True)  # it’s matches the entry it's
        lat = words(straight, lowercase=True).list.eval(pl.element().is_in(latin)).list.sum()
        hits = hits + lat.fill_null(0).cast(pl.Int64)
    if cjk:
        pat = "|".join(re.escape(e) for e in cjk)
        covered = text.str.extract_all(pat).list.eval(pl.element().str.count_matches(f"[{CJK}]")).list.sum()
        hits = hits + covered.fill_null(0).cast(pl.Int64)
    return hits


@register("filter.stopwords")
class StopwordsFilter(RowStage):
    """Remove rows with too few stopwords: keyword lists, tables, code and gibberish have almost none.

    ``score_stopword_ratio`` = stopword words / all words (CJK-aware units, see ``list_hits``).
    Default lists: ``stopwords_en`` + ``stopwords_zh`` (shipped); a path adds your own. Data-Juicer's
    ``stopwords_filter`` uses min 0.3 for English; Chinese prose with these lists scores lower
    (~0.15-0.3), so look at the distribution before setting ``min_stopword_ratio``.
    """

    class Config(FieldConfig):
        lists: list[str] = PydField(
            ["stopwords_en", "stopwords_zh"], description="shipped list names or file paths"
        )
        extra_words: list[str] = PydField([], description="more stopwords, inline")
        min_stopword_ratio: float | None = PydField(
            None, ge=0, le=1, description="remove below this stopword share"
        )

    thresholds = limit_fields(Config)

    @cached_property
    def _entries(self) -> tuple[str, ...]:
        return wordlists.load_many(self.cfg.lists, self.cfg.extra_words)

    def _col(self) -> str:
        return score_name("stopword_ratio", self.cfg.field, "all")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        t = text_of(self.cfg.field)
        return batch.with_columns(ratio(list_hits(t, self._entries), word_count(t)).alias(self._col()))

    def rules(self) -> list[Rule]:
        return Rule.below("low_stopword_ratio", self._col(), self.cfg.min_stopword_ratio)


@register("filter.flagged_words")
class FlaggedWordsFilter(RowStage):
    """Remove rows with too many flagged words (profanity, sexual terms).

    ``score_flagged_words`` counts them and ``score_flagged_ratio`` divides by all words (CJK-aware
    units, see ``list_hits``). Default max ratio 0.045 is Data-Juicer's ``flagged_words_filter``;
    set ``max_flagged_words: 0`` for C4's rule (drop a page with any bad word). Default lists
    ``flagged_en`` + ``flagged_zh`` are short starter lists; pass your own path for production.
    """

    class Config(FieldConfig):
        lists: list[str] = PydField(
            ["flagged_en", "flagged_zh"], description="shipped list names or file paths"
        )
        extra_words: list[str] = PydField([], description="more flagged words, inline")
        max_flagged_ratio: float | None = PydField(
            0.045, ge=0, le=1, description="remove above this flagged share"
        )
        max_flagged_words: int | None = PydField(
            None, ge=0, description="remove above this many flagged words"
        )

    thresholds = limit_fields(Config)

    @cached_property
    def _entries(self) -> tuple[str, ...]:
        return wordlists.load_many(self.cfg.lists, self.cfg.extra_words)

    def _col(self, stat: str) -> str:
        return score_name(stat, self.cfg.field, "all")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        t = text_of(self.cfg.field)
        hits = list_hits(t, self._entries)
        return batch.with_columns(
            hits.alias(self._col("flagged_words")),
            ratio(hits, word_count(t)).alias(self._col("flagged_ratio")),
        )

    def rules(self) -> list[Rule]:
        return [
            *Rule.above("flagged_words", self._col("flagged_words"), self.cfg.max_flagged_words),
            *Rule.above("high_flagged_ratio", self._col("flagged_ratio"), self.cfg.max_flagged_ratio),
        ]
