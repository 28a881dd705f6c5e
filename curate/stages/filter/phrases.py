"""Phrase rules for answers: refusals and model boilerplate, and a user's blocked phrases."""

from __future__ import annotations

from functools import cached_property
from typing import ClassVar

import polars as pl
from pydantic import Field as PydField
from pydantic import model_validator

from curate.fields import Field
from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule
from curate.stages.filter.base import FieldConfig, limit_fields, score_name
from curate.text import wordlists
from curate.text.textstats import count_phrases, phrase_pattern, text_of


class _AnswerConfig(FieldConfig):
    field: Field = PydField(
        "assistant", description="text the rule reads: assistant, last_assistant, user, all"
    )


class _PhraseFilter(RowStage):
    """Counts matches of ``_pattern`` in the field as ``score_<stat>``; removes above ``max_<stat>``."""

    stat: ClassVar[str]
    reason: ClassVar[str]
    _pattern: str

    def _col(self) -> str:
        return score_name(self.stat, self.cfg.field, "assistant")

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        return batch.with_columns(count_phrases(text_of(self.cfg.field), self._pattern).alias(self._col()))

    def rules(self) -> list[Rule]:
        return Rule.above(self.reason, self._col(), getattr(self.cfg, f"max_{self.stat}"))


@register("filter.refusal")
class RefusalFilter(_PhraseFilter):
    """Remove answers that refuse or talk about being an AI ("As an AI language model", "很抱歉，我无法").

    ``score_refusal_phrases`` counts matches of the phrase lists in the field (case-insensitive;
    tolerant of spacing, ’ for ', ， for ,). Shipped lists ``refusal_en`` and ``refusal_zh``;
    a path or ``extra_phrases`` adds your own.
    """

    class Config(_AnswerConfig):
        lists: list[str] = PydField(
            ["refusal_en", "refusal_zh"], description="shipped list names or file paths"
        )
        extra_phrases: list[str] = PydField([], description="more refusal phrases, inline")
        max_refusal_phrases: int | None = PydField(0, ge=0, description="remove above this many matches")

    thresholds = limit_fields(Config)

    stat, reason = "refusal_phrases", "refusal"

    @cached_property
    def _pattern(self) -> str:
        return phrase_pattern(wordlists.load_many(self.cfg.lists, self.cfg.extra_phrases))


@register("filter.blocklist")
class BlocklistFilter(_PhraseFilter):
    """Remove rows whose field contains a blocked phrase, e.g. a support bot must not say 转人工.

    Phrases come inline (``phrases``) and/or from files (``lists``); literal by default (spacing and
    punctuation variants tolerated as in filter.refusal), or regular expressions with ``regex``.
    ``score_blocked_phrases`` counts matches.
    """

    class Config(_AnswerConfig):
        phrases: list[str] = PydField([], description="blocked phrases, inline")
        lists: list[str] = PydField([], description="files of blocked phrases, one per line")
        regex: bool = PydField(False, description="treat phrases as regular expressions")
        case_sensitive: bool = PydField(False, description="match case exactly")
        max_blocked_phrases: int | None = PydField(0, ge=0, description="remove above this many matches")

        @model_validator(mode="after")
        def _needs_phrases(self) -> _AnswerConfig:
            if not self.phrases and not self.lists:
                raise ValueError("filter.blocklist needs `phrases` or `lists`")
            return self

    thresholds = limit_fields(Config)
    stat, reason = "blocked_phrases", "blocked_phrase"

    @cached_property
    def _pattern(self) -> str:
        entries = wordlists.load_many(self.cfg.lists, self.cfg.phrases)
        return phrase_pattern(entries, case_insensitive=not self.cfg.case_sensitive, regex=self.cfg.regex)
