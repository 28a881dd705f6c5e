"""``filter.length``: drop rows too short to teach anything or too long to fit the context."""

from __future__ import annotations

import logging

import polars as pl
from pydantic import Field

from curate.fields import Field as TextField
from curate.fields import field_text
from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule, StageConfig

log = logging.getLogger(__name__)


def count_tokens(texts: list[str], tokenizer: object, *, batch_size: int = 1024) -> list[int]:
    """Token counts with the fast tokenizer's batch call (no special tokens)."""
    out: list[int] = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i : i + batch_size], add_special_tokens=False)["input_ids"]  # type: ignore[operator]
        out.extend(len(ids) for ids in enc)
    return out


@register("filter.length")
class LengthFilter(RowStage):
    """Drop rows whose chosen field is too short or too long.

    Chars are counted with ``len_chars`` (O(n) over UTF-8, exact for CJK). Tokens are counted only
    when ``min_tokens``/``max_tokens`` is set, with the tokenizer of ``model`` (default: the training
    model), because tokenizing costs ~100x more than counting chars. Defaults keep anything from a
    one-word answer to a long document; tighten them per corpus after looking at ``score_chars``.
    """

    class Config(StageConfig):
        field: TextField = Field(
            "all", description="text the rule measures: text, user, assistant, last_assistant, all"
        )
        min_chars: int | None = Field(1, ge=0, description="remove rows with fewer characters")
        max_chars: int | None = Field(None, ge=1, description="remove rows with more characters")
        min_tokens: int | None = Field(None, ge=0, description="remove rows with fewer tokens")
        max_tokens: int | None = Field(None, ge=1, description="remove rows with more tokens")
        model: str | None = Field(
            None, description="tokenizer for token counts (default: the training model)"
        )

    cfg: Config
    thresholds = frozenset({"min_chars", "max_chars", "min_tokens", "max_tokens"})

    def score_key(self) -> object:
        return self._wants_tokens()  # whether score_tokens exists depends on the token limits

    def _wants_tokens(self) -> bool:
        return self.cfg.min_tokens is not None or self.cfg.max_tokens is not None

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        out = batch.with_columns(field_text(self.cfg.field).str.len_chars().alias("score_chars"))
        if self._wants_tokens():
            name = self.cfg.model or self.ctx.train_model or "smollm2-135m"
            tok = self.ctx.models.tokenizer(name) if self.ctx.models else _tokenizer(name)
            texts = batch.select(field_text(self.cfg.field)).to_series().to_list()
            out = out.with_columns(pl.Series("score_tokens", count_tokens(texts, tok), dtype=pl.Int64))
        return out

    def rules(self) -> list[Rule]:
        cfg = self.cfg
        return [
            *Rule.below("too_short", "score_chars", cfg.min_chars),
            *Rule.above("too_long", "score_chars", cfg.max_chars),
            *Rule.below("too_few_tokens", "score_tokens", cfg.min_tokens),
            *Rule.above("too_many_tokens", "score_tokens", cfg.max_tokens),
        ]


def _tokenizer(name: str) -> object:
    from curate.models import load_tokenizer

    return load_tokenizer(name)
