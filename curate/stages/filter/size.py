"""Size rules: words (CJK-aware), lines, and turns per conversation.

Character length is ``filter.length`` (chars and tokens); these add the units it lacks. Each stage
writes its count as a ``score_*`` column first; ``None`` thresholds only score.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field as PydField

from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule, StageConfig
from curate.stages.filter.base import FieldConfig, range_rules, score_name
from curate.text.textscan import word_counts
from curate.text.textstats import field_series, line_count, text_of


@register("filter.words")
class WordsFilter(RowStage):
    """Keep rows whose field has between ``min_words`` and ``max_words`` words.

    A word is a run of letters/digits (``don't`` is one), and every Han, Hiragana or Katakana
    character is one word, so ``"我们 like tea"`` has 4: whitespace splitting would count a whole
    Chinese paragraph as one word. Cost: one compiled pass over the text (``textscan``).
    """

    class Config(FieldConfig):
        min_words: int | None = PydField(None, ge=0, description="remove below this many words")
        max_words: int | None = PydField(None, ge=0, description="remove above this many words")

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
    """Keep rows whose field has between ``min_lines`` and ``max_lines`` non-blank lines.

    Blank lines do not count: a one-line answer followed by "\\n\\n" is still one line.
    """

    class Config(FieldConfig):
        min_lines: int | None = PydField(None, ge=0, description="remove below this many non-blank lines")
        max_lines: int | None = PydField(None, ge=0, description="remove above this many non-blank lines")

    def _col(self) -> str:
        return score_name("lines", self.cfg.field, "all")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        return batch.with_columns(line_count(text_of(self.cfg.field)).alias(self._col()))

    def rules(self) -> list[Rule]:
        return range_rules(
            self._col(),
            lo=self.cfg.min_lines,
            hi=self.cfg.max_lines,
            below="too_few_lines",
            above="too_many_lines",
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
