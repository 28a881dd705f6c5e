"""Gopher quality and repetition rules for continued-pretraining documents.

Source: Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from Training
Gopher", appendix A.1.1 and table A1 (MassiveText quality filters). Defaults are the published
thresholds. The rules were tuned on English web text: on Chinese, where every Han character is a
word here, the mean word length is ~1 and ``min_mean_word_chars`` removes everything, so set it to
None (or use filter.fineweb / filter.repetition) for Chinese.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field as PydField

from curate.fields import Field
from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule
from curate.stages.filter.base import FieldConfig, limit_fields, score_name
from curate.text import ngrams, textscan
from curate.text.textstats import TMP, field_series, lines, ratio, text_of

GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
# A bullet: a bullet glyph, or a Markdown "-", "*", "+" followed by a space ("****" is a rule, not a list).
BULLET_START = r"^(?:[•‣◦▪●○■□–·]|[-*+](?:\s|$))"
ELLIPSIS_END = r"(?:\.\.\.|…)$"


class _GopherConfig(FieldConfig):
    field: Field = PydField(
        "text", description="text the rule reads: text, user, assistant, last_assistant, all"
    )


def _word_hashes(entries: list[str]) -> np.ndarray:
    """Hashes of the entries that are exactly one word (any other entry can never equal a word)."""
    t = textscan.word_tokens(pl.Series(entries, dtype=pl.String), lowercase=True)
    one = (np.diff(t.offs) == 1) & (
        t.lens[np.minimum(t.offs[:-1], t.lens.size - 1)] == [len(x) for x in entries]
    )
    return t.hashes[t.offs[:-1][one]]


def distinct_hits(w: textscan.Tokens, entries: np.ndarray) -> np.ndarray:
    """Per row, how many different ``entries`` (word hashes) occur among its words."""
    entries = np.unique(entries)
    n_rows = w.offs.size - 1
    if entries.size == 0 or w.hashes.size == 0:
        return np.zeros(n_rows, np.int64)
    pos = np.minimum(np.searchsorted(entries, w.hashes), entries.size - 1)
    hit = entries[pos] == w.hashes
    rows = np.repeat(np.arange(n_rows), np.diff(w.offs))[hit]
    pairs = np.unique(rows * entries.size + pos[hit])
    return np.bincount(pairs // entries.size, minlength=n_rows).astype(np.int64)


@register("filter.gopher_quality")
class GopherQualityFilter(RowStage):
    """Gopher quality rules: document length, word length, symbols, bullets, ellipses, alphabetic words,
    stop words.

    Statistics (``score_gopher_*``): ``words`` CJK-aware word count; ``mean_word_chars``; ``hash_ratio``
    and ``ellipsis_ratio`` ("#" and "..."/"…" occurrences per word); ``bullet_lines_frac`` and
    ``ellipsis_lines_frac`` (share of non-blank lines starting with a bullet / ending in an
    ellipsis); ``alpha_words_frac`` (share of whitespace-separated tokens with at least one letter);
    ``stop_words`` (how many DIFFERENT words of ``stop_words`` occur, case-sensitively, as in
    datatrove's ``len(self.stop_words.intersection(set(words)))``: six "the" count 1, and "The" is
    not "the"). Paper thresholds: 50-100,000 words, mean word length 3-10, symbol ratios <= 0.1,
    bullet lines <= 90 %, ellipsis lines <= 30 %, alphabetic words >= 80 %, at least 2 of the 8
    stop words.
    """

    thread_safe = True  # polars and compiled kernels only (executors.local)

    class Config(_GopherConfig):
        min_words: int | None = PydField(50, ge=0, description="remove below this many words")
        max_words: int | None = PydField(100_000, ge=0, description="remove above this many words")
        min_mean_word_chars: float | None = PydField(
            3, ge=0, description="remove below this mean word length"
        )
        max_mean_word_chars: float | None = PydField(
            10, ge=0, description="remove above this mean word length"
        )
        max_hash_ratio: float | None = PydField(0.1, ge=0, description="remove above this '#' per word")
        max_ellipsis_ratio: float | None = PydField(
            0.1, ge=0, description="remove above this ellipses per word"
        )
        max_bullet_lines_frac: float | None = PydField(
            0.9, ge=0, le=1, description="remove above this bullet-line share"
        )
        max_ellipsis_lines_frac: float | None = PydField(
            0.3, ge=0, le=1, description="remove above this share of lines ending in an ellipsis"
        )
        min_alpha_words_frac: float | None = PydField(
            0.8, ge=0, le=1, description="remove below this share of tokens with a letter"
        )
        min_stop_words: int | None = PydField(
            2, ge=0, description="remove below this many different stop words"
        )
        stop_words: list[str] = PydField(
            GOPHER_STOP_WORDS, description="stop words counted (distinct, case-sensitive) for min_stop_words"
        )

    thresholds = limit_fields(Config)

    def _col(self, stat: str) -> str:
        return score_name(f"gopher_{stat}", self.cfg.field, "text")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        workers = self.ctx.threads
        texts = field_series(batch, self.cfg.field)
        w = textscan.word_tokens(texts, workers=workers)
        n_words = np.diff(w.offs)
        words = pl.lit(pl.Series(n_words))
        mean_chars = textscan.share(textscan.row_sums(w.lens, w.offs), n_words)
        n_tokens, n_alpha, _ = textscan.space_tokens(texts, workers=workers)
        stops = _word_hashes(self.cfg.stop_words)
        t, e = pl.col(TMP), pl.element()
        ls = lines(t)
        n_lines = ls.list.len()
        out = batch.with_columns(text_of(self.cfg.field).alias(TMP)).with_columns(
            pl.Series(self._col("words"), n_words),
            pl.Series(self._col("mean_word_chars"), mean_chars),
            ratio(t.str.count_matches("#", literal=True), words).alias(self._col("hash_ratio")),
            ratio(t.str.count_matches(r"\.\.\.|…"), words).alias(self._col("ellipsis_ratio")),
            ratio(ls.list.eval(e.str.contains(BULLET_START)).list.sum(), n_lines).alias(
                self._col("bullet_lines_frac")
            ),
            ratio(ls.list.eval(e.str.contains(ELLIPSIS_END)).list.sum(), n_lines).alias(
                self._col("ellipsis_lines_frac")
            ),
            pl.Series(self._col("alpha_words_frac"), textscan.share(n_alpha, n_tokens)),
            pl.Series(self._col("stop_words"), distinct_hits(w, stops)),
        )
        return out.drop(TMP)

    def rules(self) -> list[Rule]:
        c, col = self.cfg, self._col
        return [
            *Rule.below("gopher_too_few_words", col("words"), c.min_words),
            *Rule.above("gopher_too_many_words", col("words"), c.max_words),
            *Rule.below("gopher_short_words", col("mean_word_chars"), c.min_mean_word_chars),
            *Rule.above("gopher_long_words", col("mean_word_chars"), c.max_mean_word_chars),
            *Rule.above("gopher_hash_ratio", col("hash_ratio"), c.max_hash_ratio),
            *Rule.above("gopher_ellipsis_ratio", col("ellipsis_ratio"), c.max_ellipsis_ratio),
            *Rule.above("gopher_bullet_lines", col("bullet_lines_frac"), c.max_bullet_lines_frac),
            *Rule.above("gopher_ellipsis_lines", col("ellipsis_lines_frac"), c.max_ellipsis_lines_frac),
            *Rule.below("gopher_few_alpha_words", col("alpha_words_frac"), c.min_alpha_words_frac),
            *Rule.below("gopher_few_stop_words", col("stop_words"), c.min_stop_words),
        ]


@register("filter.gopher_repetition")
class GopherRepetitionFilter(RowStage):
    """Gopher repetition rules: duplicate lines and paragraphs, top n-grams, duplicate n-grams.

    Statistics (``score_gopher_*``), over non-blank stripped lines, paragraphs (split at blank lines)
    and CJK-aware words:
    ``dup_line_frac`` / ``dup_para_frac``: share of lines (paragraphs) equal to an earlier one;
    ``dup_line_char_frac`` / ``dup_para_char_frac``: their characters over all line (paragraph)
    characters; ``top_{n}gram_char_frac``: characters covered by the most frequent repeated word
    n-gram (count x its characters) over all word characters; ``dup_{n}gram_char_frac``:
    characters of words covered by any repeated n-gram occurrence (overlaps counted once) over all
    word characters. Defaults are table A1: 0.3, 0.3, 0.2, 0.2; top 2/3/4-gram 0.20/0.18/0.16;
    duplicate 5..10-gram 0.15 down to 0.10. Characters exclude whitespace between words.
    """

    thread_safe = True  # polars and compiled kernels only (executors.local)

    class Config(_GopherConfig):
        max_dup_line_frac: float | None = PydField(
            0.3, ge=0, le=1, description="remove above this repeated-line share"
        )
        max_dup_para_frac: float | None = PydField(
            0.3, ge=0, le=1, description="remove above this repeated-paragraph share"
        )
        max_dup_line_char_frac: float | None = PydField(
            0.2, ge=0, le=1, description="remove above this share of characters in repeated lines"
        )
        max_dup_para_char_frac: float | None = PydField(
            0.2, ge=0, le=1, description="remove above this share of characters in repeated paragraphs"
        )
        max_top_ngram_char_frac: dict[int, float] = PydField(
            {2: 0.20, 3: 0.18, 4: 0.16}, description="n -> max character share of the top repeated n-gram"
        )
        max_dup_ngram_char_frac: dict[int, float] = PydField(
            {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
            description="n -> max character share of words inside repeated n-grams",
        )

    thresholds = limit_fields(Config)

    def score_key(self) -> object:
        """The n of the n-gram scores: the two dicts are thresholds, but their keys pick the columns."""
        c = self.cfg
        return sorted(c.max_top_ngram_char_frac), sorted(c.max_dup_ngram_char_frac)

    def _col(self, stat: str) -> str:
        return score_name(f"gopher_{stat}", self.cfg.field, "text")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        t, workers = text_of(self.cfg.field), self.ctx.threads
        paras = (
            t.str.replace_all(r"\n[ \t\r]*\n", "\u2029")
            .str.split("\u2029")
            .list.eval(pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != ""))
        )
        texts = field_series(batch, self.cfg.field)
        line_sh = ngrams.repeat_shares(textscan.line_tokens(texts, workers=workers))
        para_sh = ngrams.repeat_shares(batch.select(paras).to_series())
        cols = [
            line_sh["frac"].alias(self._col("dup_line_frac")),
            para_sh["frac"].alias(self._col("dup_para_frac")),
            line_sh["char_frac"].alias(self._col("dup_line_char_frac")),
            para_sh["char_frac"].alias(self._col("dup_para_char_frac")),
        ]
        words = textscan.word_tokens(texts, workers=workers)
        for n in sorted(self.cfg.max_top_ngram_char_frac):
            frac = ngrams.top_ngram_char_frac(words, n, workers=workers)
            cols.append(frac.alias(self._col(f"top_{n}gram_char_frac")))
        for n in sorted(self.cfg.max_dup_ngram_char_frac):
            frac = ngrams.dup_ngram_char_frac(words, n, workers=workers)
            cols.append(frac.alias(self._col(f"dup_{n}gram_char_frac")))
        return batch.with_columns(cols)

    def rules(self) -> list[Rule]:
        c, col = self.cfg, self._col
        out = [
            *Rule.above("gopher_dup_lines", col("dup_line_frac"), c.max_dup_line_frac),
            *Rule.above("gopher_dup_paragraphs", col("dup_para_frac"), c.max_dup_para_frac),
            *Rule.above("gopher_dup_line_chars", col("dup_line_char_frac"), c.max_dup_line_char_frac),
            *Rule.above("gopher_dup_paragraph_chars", col("dup_para_char_frac"), c.max_dup_para_char_frac),
        ]
        for n, thr in sorted(c.max_top_ngram_char_frac.items()):
            out += Rule.above(f"gopher_top_{n}gram", col(f"top_{n}gram_char_frac"), thr)
        for n, thr in sorted(c.max_dup_ngram_char_frac.items()):
            out += Rule.above(f"gopher_dup_{n}gram", col(f"dup_{n}gram_char_frac"), thr)
        return out
