"""Size rules: words (CJK-aware), lines, and turns per conversation.

Character length is ``filter.length`` (chars and tokens); these add the units it lacks. Each stage
writes its count as a ``score_*`` column first; ``None`` thresholds only score.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field as PydField

from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule, StageConfig
from curate.stages.filter.base import FieldConfig, limit_fields, range_rules, score_name
from curate.text.textscan import word_counts
from curate.text.textstats import field_series, lines, text_of


@register("filter.words")
class WordsFilter(RowStage):
    """Keep rows whose field has between ``min_words`` and ``max_words`` words.

    A word is a run of letters/digits (``don't`` is one), and every Han, Hiragana or Katakana
    character is one word, so ``"我们 like tea"`` has 4: whitespace splitting would count a whole
    Chinese paragraph as one word. Cost: one compiled pass over the text (``textscan``).
    """

    thread_safe = True  # polars and compiled kernels only (executors.local)

    class Config(FieldConfig):
        min_words: int | None = PydField(None, ge=0, description="remove below this many words")
        max_words: int | None = PydField(None, ge=0, description="remove above this many words")

    thresholds = limit_fields(Config)

    def _col(self) -> str:
        return score_name("words", self.cfg.field, "all")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        counts = word_counts(field_series(batch, self.cfg.field), workers=self.ctx.threads)
        return batch.with_columns(pl.Series(self._col(), counts))

    def rules(self) -> list[Rule]:
        return range_rules(
            self._col(),
            lo=self.cfg.min_words,
            hi=self.cfg.max_words,
            below="too_few_words",
            above="too_many_words",
        )


@register("filter.lines")
class LinesFilter(RowStage):
    """Keep rows whose field has between ``min_lines`` and ``max_lines`` non-blank lines, and whose
    lines are not too long or too short.

    Blank lines do not count: a one-line answer followed by "\\n\\n" is still one line. Line lengths
    are characters of the non-blank lines, stripped: ``score_longest_line_chars`` (Data-Juicer's
    ``maximum_line_length_filter``: minified code, base64, tables on one line) and
    ``score_mean_line_chars`` (its ``average_line_length_filter``: menus and lists of fragments are
    short). Data-Juicer splits with ``str.splitlines`` and keeps blank lines and line ends in its
    mean (``len(text) / len(lines)``); here they are left out, as in the line count, so a row of two
    10-character lines and a blank line has mean 10, not 7. Its test cases keep the same rows.
    """

    thread_safe = True  # polars and compiled kernels only (executors.local)

    class Config(FieldConfig):
        min_lines: int | None = PydField(None, ge=0, description="remove below this many non-blank lines")
        max_lines: int | None = PydField(None, ge=0, description="remove above this many non-blank lines")
        min_longest_line_chars: int | None = PydField(
            None, ge=0, description="remove when even the longest line is shorter"
        )
        max_longest_line_chars: int | None = PydField(
            None, ge=0, description="remove when any line is longer"
        )
        min_mean_line_chars: float | None = PydField(
            None, ge=0, description="remove below this mean line length"
        )
        max_mean_line_chars: float | None = PydField(
            None, ge=0, description="remove above this mean line length"
        )

    thresholds = limit_fields(Config)

    def _col(self, stat: str = "lines") -> str:
        return score_name(stat, self.cfg.field, "all")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        ls = lines(text_of(self.cfg.field))
        lens = ls.list.eval(pl.element().str.len_chars())
        n = ls.list.len().cast(pl.Int64)
        return batch.with_columns(
            n.alias(self._col()),
            lens.list.max().fill_null(0).cast(pl.Int64).alias(self._col("longest_line_chars")),
            pl.when(n > 0).then(lens.list.sum() / n).otherwise(0.0).alias(self._col("mean_line_chars")),
        )

    def rules(self) -> list[Rule]:
        c = self.cfg
        return (
            range_rules(
                self._col(), lo=c.min_lines, hi=c.max_lines, below="too_few_lines", above="too_many_lines"
            )
            + range_rules(
                self._col("longest_line_chars"),
                lo=c.min_longest_line_chars,
                hi=c.max_longest_line_chars,
                below="longest_line_too_short",
                above="line_too_long",
            )
            + range_rules(
                self._col("mean_line_chars"),
                lo=c.min_mean_line_chars,
                hi=c.max_mean_line_chars,
                below="lines_too_short",
                above="lines_too_long",
            )
        )


@register("filter.turns")
class TurnsFilter(RowStage):
    """Keep conversations with between ``min_turns`` and ``max_turns`` turns (documents pass).

    ``score_turns`` counts every message (user, assistant, tool_call, tool), the system prompt not
    included; ``score_user_turns`` counts the user's, which is the number of exchanges.
    """

    class Config(StageConfig):
        min_turns: int | None = PydField(None, ge=0, description="remove chats with fewer messages")
        max_turns: int | None = PydField(None, ge=0, description="remove chats with more messages")
        min_user_turns: int | None = PydField(None, ge=0, description="remove chats with fewer user turns")
        max_user_turns: int | None = PydField(None, ge=0, description="remove chats with more user turns")

    thresholds = limit_fields(Config)

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        msgs = pl.col("messages")
        users = msgs.list.eval(pl.element().struct.field("role") == "user").list.sum()
        return batch.with_columns(
            msgs.list.len().fill_null(0).cast(pl.Int64).alias("score_turns"),
            users.fill_null(0).cast(pl.Int64).alias("score_user_turns"),
        )

    def rules(self) -> list[Rule]:
        chat = pl.col("kind") == "chat"
        out = range_rules(
            "score_turns",
            lo=self.cfg.min_turns,
            hi=self.cfg.max_turns,
            below="too_few_turns",
            above="too_many_turns",
        ) + range_rules(
            "score_user_turns",
            lo=self.cfg.min_user_turns,
            hi=self.cfg.max_user_turns,
            below="too_few_user_turns",
            above="too_many_user_turns",
        )
        return [Rule(r.reason, r.when & chat, r.value, r.threshold) for r in out]
