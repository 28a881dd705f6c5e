"""C4 and FineWeb rule sets for continued-pretraining documents, with their published defaults."""

from __future__ import annotations

import polars as pl
from pydantic import Field as PydField

from curate.fields import Field
from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule, StageResult, split_by_rules
from curate.stages.filter.base import FieldConfig, limit_fields, score_name
from curate.text import ngrams, textscan
from curate.text.textstats import ends_with_any, field_series, lines, text_of

CITATION = r"\[\d*\]|\[edit\]|\[citation needed\]"
POLICY = r"terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies"
# A sentence ends at CJK 。！？ anywhere, or at Latin .!? followed by whitespace or the line's end.
_KEPT_TEXT = "__c4_text"
SENTENCE_END = r"[。！？]+[\"'”’」』）)]*|[.!?]+[\"'”’」』)]*(?:\s|$)"


class _WebConfig(FieldConfig):
    field: Field = PydField(
        "text", description="text the rule reads: text, user, assistant, last_assistant, all"
    )


@register("filter.c4")
class C4Filter(RowStage):
    """C4's "clean page" rules (Raffel et al. 2020, JMLR 21(140), section 2.2; TFDS ``c4_utils``).

    Per line (stripped): drop it when it has a word over ``max_word_chars``, does not end in terminal
    punctuation (or ends in "..."), has fewer than ``min_words_per_line`` CJK-aware words, mentions
    "javascript", or a cookie/terms-of-use phrase; citation markers ([1], [edit]) are cut first.
    Per document: remove it when a surviving-candidate line contains "lorem ipsum" or "{", or when
    the kept lines hold fewer than ``min_sentences`` sentences. With ``drop_lines`` the document's
    ``text`` becomes its kept lines (as C4 does); chat rows are only scored. Scores:
    ``score_c4_lines_dropped``, ``score_c4_sentences``, ``score_c4_lorem_ipsum``,
    ``score_c4_curly_brackets``. CJK-aware words and sentence ends (。！？) let it run on Chinese;
    the bad-words rule is ``filter.flagged_words`` with ``max_flagged_words: 0``.
    """

    thread_safe = True  # polars and compiled kernels only (executors.local)

    class Config(_WebConfig):
        drop_lines: bool = PydField(True, description="rewrite documents to the lines C4 keeps")
        remove_citations: bool = PydField(True, description="cut [1], [edit], [citation needed] from lines")
        min_words_per_line: int = PydField(3, ge=0, description="drop lines with fewer words")
        max_word_chars: int = PydField(1000, ge=1, description="drop lines with a longer word")
        min_sentences: int | None = PydField(
            5, ge=0, description="remove documents with fewer sentences in kept lines"
        )
        remove_lorem_ipsum: bool = PydField(True, description="remove documents containing 'lorem ipsum'")
        remove_curly_bracket: bool = PydField(True, description="remove documents containing '{'")
        terminal_punct: str = PydField(
            ".!?\"'。！？”’」』", description="characters a kept line must end with"
        )

    # drop_lines counts as one: it acts only in ``rules`` and ``split`` (rewriting kept documents);
    # the scores, the kept-lines column included, do not depend on it.
    thresholds = frozenset(
        {"min_sentences", "remove_lorem_ipsum", "remove_curly_bracket", "drop_lines"}
    )

    def _col(self, stat: str) -> str:
        return score_name(f"c4_{stat}", self.cfg.field, "text")

    def _clean_lines(self, batch: pl.DataFrame) -> pl.DataFrame:
        """One row per line (``__r`` = its document), stripped and with citations cut."""
        line = pl.col("line").fill_null("").str.strip_chars()
        if self.cfg.remove_citations:
            line = line.str.replace_all(CITATION, "").str.strip_chars()
        return (
            batch.select(text_of(self.cfg.field).str.split("\n").alias("line"))
            .with_row_index("__r")
            .explode("line", empty_as_null=True)
            .with_columns(line.alias("line"))
        )

    def _line_flags(self, flat: pl.DataFrame) -> list[pl.Expr]:
        """Per-line columns (one row per line): word counts compiled, the phrase rules as regexes."""
        c = self.cfg
        workers = self.ctx.threads
        longest = textscan.space_tokens(flat["line"], workers=workers)[2]
        words = textscan.word_counts(flat["line"], workers=workers)
        line = pl.col("line")
        low = line.str.to_lowercase()
        punct = ends_with_any(line, c.terminal_punct) & ~line.str.ends_with("...")
        cand = pl.lit(pl.Series((longest <= c.max_word_chars) & (words >= c.min_words_per_line))) & punct
        js = low.str.contains("javascript", literal=True)
        return [
            (line != "").alias("nonblank"),
            (cand & ~js & ~low.str.contains(POLICY)).alias("kept"),
            (cand & low.str.contains("lorem ipsum", literal=True)).alias("lorem"),
            (cand & ~js & line.str.contains("{", literal=True)).alias("curly"),
            line.str.count_matches(SENTENCE_END).alias("sents"),
        ]

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        flat = self._clean_lines(batch)
        flat = flat.with_columns(self._line_flags(flat))
        kept, as_int = pl.col("kept"), lambda e: e.cast(pl.Int64).sum()
        per_doc = flat.group_by("__r", maintain_order=True).agg(
            as_int(pl.col("nonblank") & ~kept).alias(self._col("lines_dropped")),
            pl.col("sents").filter(kept).cast(pl.Int64).sum().alias(self._col("sentences")),
            as_int(pl.col("lorem")).alias(self._col("lorem_ipsum")),
            as_int(pl.col("curly")).alias(self._col("curly_brackets")),
            pl.col("line").filter(kept).str.join("\n").alias(_KEPT_TEXT),
        )
        return batch.with_columns(per_doc.drop("__r"))

    def split(self, scored: pl.DataFrame) -> StageResult:
        """Rules first, then kept documents get their kept lines; removed rows keep the original text."""
        res = split_by_rules(scored, self.rules(), stage=self.name)
        new = pl.col(_KEPT_TEXT)
        if self.cfg.drop_lines:
            res.kept = res.kept.with_columns(
                pl.when(pl.col("kind") == "text").then(new).otherwise(pl.col("text")).alias("text")
            )
        res.kept = res.kept.drop(_KEPT_TEXT)
        if res.removed is not None:
            res.removed = res.removed.drop(_KEPT_TEXT, strict=False)
        return res

    def rules(self) -> list[Rule]:
        c, col = self.cfg, self._col
        out = []
        if c.remove_lorem_ipsum:
            out.append(Rule("c4_lorem_ipsum", pl.col(col("lorem_ipsum")) > 0, pl.col(col("lorem_ipsum")), 0))
        if c.remove_curly_bracket:
            out.append(
                Rule("c4_curly_bracket", pl.col(col("curly_brackets")) > 0, pl.col(col("curly_brackets")), 0)
            )
        out += Rule.below("c4_too_few_sentences", col("sentences"), c.min_sentences)
        if c.drop_lines:
            doc = (pl.col("kind") == "text") & (pl.col(_KEPT_TEXT).str.strip_chars() == "")
            out.append(Rule("emptied_by_clean", doc, pl.col(col("lines_dropped")), None))
        return out


@register("filter.fineweb")
class FineWebFilter(RowStage):
    """FineWeb's custom quality rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.3.4;
    datatrove ``FineWebQualityFilter``).

    Over non-blank stripped lines: ``score_fineweb_line_punct_ratio`` share ending in terminal
    punctuation (removed when <= 0.12); ``score_fineweb_short_line_ratio`` share with at most
    ``short_line_chars`` characters (removed when >= 0.67); ``score_fineweb_dup_line_char_ratio``
    characters in lines repeating an earlier line over all line characters (removed when >= 0.1, the
    paper's value; datatrove's code default is 0.01); ``score_fineweb_newline_word_ratio`` newlines
    per CJK-aware word (removed when > 0.3, datatrove's "list ratio", not in the paper). Terminal
    punctuation adds CJK 。！？”’」』 to FineWeb's . ' " ! ? so Chinese prose is not mistaken for lists.
    """

    thread_safe = True  # polars and compiled kernels only (executors.local)

    class Config(_WebConfig):
        min_line_punct_ratio: float | None = PydField(
            0.12, ge=0, le=1, description="remove at or below this share of lines ending in punctuation"
        )
        max_short_line_ratio: float | None = PydField(
            0.67, ge=0, le=1, description="remove at or above this share of short lines"
        )
        short_line_chars: int = PydField(30, ge=0, description="a line this long or shorter is short")
        max_dup_line_char_ratio: float | None = PydField(
            0.1, ge=0, le=1, description="remove at or above this share of characters in repeated lines"
        )
        max_newline_word_ratio: float | None = PydField(
            0.3, ge=0, description="remove above this many newlines per word"
        )
        terminal_punct: str = PydField(
            ".!?\"'。！？”’」』", description="characters that end a complete line"
        )

    thresholds = limit_fields(Config)

    def _col(self, stat: str) -> str:
        return score_name(f"fineweb_{stat}", self.cfg.field, "text")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        c, e = self.cfg, pl.element()
        texts = field_series(batch, c.field)
        per = pl.DataFrame({"l": pl.select(lines(pl.lit(texts))).to_series()}).select(
            pl.col("l").list.len().alias("n"),
            pl.col("l").list.eval(ends_with_any(e, c.terminal_punct)).list.sum().alias("punct"),
            pl.col("l").list.eval(e.str.len_chars() <= c.short_line_chars).list.sum().alias("short"),
            pl.col("l"),
        )
        n = per["n"].to_numpy()
        newlines = texts.str.count_matches("\n", literal=True).to_numpy()
        words = textscan.word_counts(texts, workers=self.ctx.threads)
        return batch.with_columns(
            pl.Series(self._col("line_punct_ratio"), textscan.share(per["punct"].to_numpy(), n)),
            pl.Series(self._col("short_line_ratio"), textscan.share(per["short"].to_numpy(), n)),
            ngrams.repeat_shares(per["l"])["char_frac"].alias(self._col("dup_line_char_ratio")),
            pl.Series(self._col("newline_word_ratio"), textscan.share(newlines, words)),
        )

    def rules(self) -> list[Rule]:
        c, col = self.cfg, self._col
        out = []
        checks = (
            ("line_punct_ratio", c.min_line_punct_ratio, "fineweb_line_punct", lambda x, v: x <= v),
            ("short_line_ratio", c.max_short_line_ratio, "fineweb_short_lines", lambda x, v: x >= v),
            ("dup_line_char_ratio", c.max_dup_line_char_ratio, "fineweb_dup_line_chars", lambda x, v: x >= v),
            ("newline_word_ratio", c.max_newline_word_ratio, "fineweb_list_like", lambda x, v: x > v),
        )
        for stat, thr, reason, cmp in checks:
            if thr is not None:
                x = pl.col(col(stat))
                out.append(Rule(reason, cmp(x, thr), x, thr))
        return out
