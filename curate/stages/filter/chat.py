"""Chat rules judged turn by turn: empty turns, echoed questions, placeholder answers, mid-sentence starts."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import polars as pl
from pydantic import Field as PydField

from curate.fields import Field
from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule, StageConfig
from curate.stages.filter.base import FieldConfig, limit_fields, score_name
from curate.text import wordlists
from curate.text.normalize import normalized
from curate.text.turns import count_turns, turns

_FIELD_DESC = "turns the rule reads: user, assistant, last_assistant, first_user, or all (text: all turns)"


class _TurnConfig(FieldConfig):
    field: Field = PydField("assistant", description=_FIELD_DESC)


@register("filter.empty_turns")
class EmptyTurnsFilter(RowStage):
    """Remove conversations with empty or whitespace-only turns, or with no turn of the field at all.

    ``score_empty_turns`` counts blank turns among those ``field`` selects (default ``all``: every
    message; the system prompt is never a turn). A chat that has no selected turn (no assistant
    answer, or no messages) is removed as ``no_turns``. A blank document counts as one empty turn.
    """

    class Config(FieldConfig):
        max_empty_turns: int | None = PydField(0, ge=0, description="remove above this many blank turns")
        remove_no_turns: bool = PydField(True, description="remove chats with no turn of the field")

    thresholds = limit_fields(Config, "remove_no_turns")

    def _col(self) -> str:
        return score_name("empty_turns", self.cfg.field, "all")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        blank = pl.element().str.strip_chars() == ""
        return batch.with_columns(count_turns(self.cfg.field, blank).alias(self._col()))

    def rules(self) -> list[Rule]:
        out = []
        if self.cfg.remove_no_turns:
            n = turns(self.cfg.field).list.len()
            out.append(Rule("no_turns", (pl.col("kind") == "chat") & (n == 0), n, 0))
        return out + Rule.above("empty_turn", self._col(), self.cfg.max_empty_turns)


@register("filter.echo")
class EchoFilter(RowStage):
    """Remove conversations where an assistant answer repeats the user turn right before it.

    Compared in ``normalize.normalized`` form with whitespace and punctuation removed (NFKC,
    lowercase, no whitespace, no punctuation or symbols), so "How are you?" echoes "how are you"
    and "ＯＫ！" echoes "ok". A turn of symbols only (an emoji) normalizes to nothing and is not
    judged. ``score_echo_turns`` counts echoing answers (``field: last_assistant`` checks only
    the final one). Empty answers are left to filter.empty_turns.
    """

    class Config(StageConfig):
        field: Literal["assistant", "last_assistant"] = PydField(
            "assistant", description="which answers to check"
        )
        max_echo_turns: int | None = PydField(0, ge=0, description="remove above this many echoing answers")

    thresholds = limit_fields(Config)

    def _col(self) -> str:
        return score_name("echo_turns", self.cfg.field, "assistant")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        el = pl.element()
        role = el.struct.field("role")
        norm = normalized(el.struct.field("content").fill_null(""), whitespace="remove", punctuation="remove")
        echo = (role == "assistant") & (role.shift(1) == "user") & (norm == norm.shift(1)) & (norm != "")
        if self.cfg.field == "last_assistant":
            idx = pl.int_range(pl.len())
            echo = echo & (idx == idx.filter(role == "assistant").max())
        n = pl.col("messages").list.eval(echo.fill_null(False).cast(pl.Int64)).list.sum().fill_null(0)
        return batch.with_columns(n.cast(pl.Int64).alias(self._col()))

    def rules(self) -> list[Rule]:
        return Rule.above("echo", self._col(), self.cfg.max_echo_turns)


@register("filter.placeholder")
class PlaceholderFilter(RowStage):
    """Remove conversations whose answer is a placeholder: "<No Output>", "N/A", "无", "同上"...

    A turn is a placeholder when its ``normalize.normalized`` form (NFKC, lowercase, whitespace
    collapsed and trimmed) equals an entry's, so "Ｎ／Ａ" and "n/a" match the entry "N/A" (lists:
    shipped ``placeholders`` by default; add a path or ``extra_placeholders``). ``score_placeholder_turns``
    counts them.
    """

    class Config(_TurnConfig):
        lists: list[str] = PydField(["placeholders"], description="shipped list names or file paths")
        extra_placeholders: list[str] = PydField([], description="more placeholder answers, inline")
        max_placeholder_turns: int | None = PydField(
            0, ge=0, description="remove above this many placeholder turns"
        )

    thresholds = limit_fields(Config)

    @cached_property
    def _entries(self) -> list[str]:
        entries = pl.Series(wordlists.load_many(self.cfg.lists, self.cfg.extra_placeholders), dtype=pl.String)
        return pl.select(normalized(pl.lit(entries))).to_series().unique(maintain_order=True).to_list()

    def _col(self) -> str:
        return score_name("placeholder_turns", self.cfg.field, "assistant")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        hit = normalized(pl.element()).is_in(self._entries)
        return batch.with_columns(count_turns(self.cfg.field, hit).alias(self._col()))

    def rules(self) -> list[Rule]:
        return Rule.above("placeholder", self._col(), self.cfg.max_placeholder_turns)


# Continuation punctuation: a turn that opens with one of these picks up someone else's sentence.
CONTINUATION_START = r"^\s*(?:[,，、;；:：)）\]】}》」』]|\.(?:[^.]|$)|…|\.\.\.)"
# A lowercase Latin word (not iOS / eBay / pH, where an uppercase letter follows).
LOWERCASE_START = r"^\s*\p{Ll}+(?:[\s,;:'’-]|$)"


@register("filter.mid_sentence")
class MidSentenceFilter(RowStage):
    """Remove answers that start mid-sentence, a sign of a bad split or a truncated window.

    A turn starts mid-sentence when it opens with continuation punctuation (, ， 、 ; ： ) 」 ... …)
    or, with ``lowercase_start``, with an all-lowercase Latin word ("and then it..."). Casual chat
    and code answers ("npm install x") also start in lowercase: turn that rule off for them.
    ``score_mid_sentence_turns`` counts such turns.
    """

    class Config(_TurnConfig):
        lowercase_start: bool = PydField(True, description="a lowercase first word counts as mid-sentence")
        max_mid_sentence_turns: int | None = PydField(
            0, ge=0, description="remove above this many such turns"
        )

    thresholds = limit_fields(Config)

    def _col(self) -> str:
        return score_name("mid_sentence_turns", self.cfg.field, "assistant")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        e = pl.element()
        pred = e.str.contains(CONTINUATION_START)
        if self.cfg.lowercase_start:
            pred = pred | e.str.contains(LOWERCASE_START)
        return batch.with_columns(count_turns(self.cfg.field, pred).alias(self._col()))

    def rules(self) -> list[Rule]:
        return Rule.above("mid_sentence", self._col(), self.cfg.max_mid_sentence_turns)
