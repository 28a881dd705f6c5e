"""Token and character measures that mixing and truncation share.

Counts are taken the way training will see the data, by ``curate.chat`` (the one renderer): a chat
row is rendered with the training model's chat template and encoded in batches with the fast
tokenizer. "Assistant tokens" are the loss-bearing tokens of SFT, exactly the trainer's mask: the
content of every assistant and tool_call turn plus its end-of-turn tokens. For a ``kind=text`` row
every token is loss-bearing.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import polars as pl

from curate.chat import ChatRenderer, count_tokens, encode_lengths, plain_render
from curate.fields import field_text

log = logging.getLogger(__name__)

Unit = Literal["examples", "tokens", "assistant_tokens", "chars", "assistant_chars"]
UNITS: tuple[str, ...] = ("examples", "tokens", "assistant_tokens", "chars", "assistant_chars")
# measure columns each unit reads; "examples" needs none
UNIT_COLUMN: dict[str, str | None] = {
    "examples": None,
    "tokens": "score_tokens_rendered",
    "assistant_tokens": "score_tokens_assistant",
    "chars": "score_chars_all",
    "assistant_chars": "score_chars_assistant",
}
DEFAULT_MODEL = "smollm2-135m"


def tokenizer_for(ctx: Any, model: str | None) -> Any:
    """The tokenizer for ``model`` (default: the run's training model, then SmolLM2), via the hub."""
    name = model or getattr(ctx, "train_model", None) or DEFAULT_MODEL
    hub = getattr(ctx, "models", None)
    if hub is not None:
        return hub.tokenizer(name)
    from curate.models import load_tokenizer

    return load_tokenizer(name)


def measure(df: pl.DataFrame, *, tokenizer: Any | None) -> pl.DataFrame:
    """Add measure columns: ``score_chars_all``/``score_chars_assistant`` always (cheap), and
    ``score_tokens_rendered``/``score_tokens_assistant`` when a tokenizer is given.

    Tokens come from ``curate.chat.count_tokens``, so they are what training sees: roles mapped
    (``tool_call`` -> assistant), tools placed, and assistant tokens equal to the trainer's loss mask
    (every ``assistant`` and ``tool_call`` turn's content plus its end-of-turn tokens). An existing
    ``score_tokens_rendered`` column (written exactly by ``truncate.history`` with the same default
    model) is reused where not null instead of rendering again. A chat row the template cannot render
    is counted with ``plain_render`` and flagged in ``tag_render`` (``"plain"``), never silently.

    Cost on 19,610 real rows (11,121 ShareGPT + 8,489 LawBench; 2 shared cores): see
    docs/stages-mixing.md (``mix.ratio`` report tokens).
    """
    is_text = pl.col("kind") == "text"
    out = df.with_columns(
        field_text("all").str.len_chars().cast(pl.Int64).alias("score_chars_all"),
        pl.when(is_text)
        .then(field_text("text").str.len_chars())
        .otherwise(field_text("assistant").str.len_chars())
        .cast(pl.Int64)
        .alias("score_chars_assistant"),
    )
    if tokenizer is None:
        return out
    if df.height == 0:
        return out.with_columns(
            pl.lit(None, dtype=pl.Int64).alias("score_tokens_rendered"),
            pl.lit(None, dtype=pl.Int64).alias("score_tokens_assistant"),
        )
    renderer = ChatRenderer(tokenizer)
    kinds = df["kind"].to_list()
    chat = [i for i, k in enumerate(kinds) if k != "text"]
    systems, convs = df["system"].to_list(), df["messages"].to_list()
    tools = df["tools"].to_list() if "tools" in df.columns else [None] * df.height
    known = df["score_tokens_rendered"].to_list() if "score_tokens_rendered" in df.columns else None
    sizes, trained = count_tokens(
        renderer,
        [systems[i] for i in chat],
        [convs[i] or [] for i in chat],
        [tools[i] for i in chat],
        rendered_sizes=[known[i] for i in chat] if known is not None else None,
    )
    flags: list[str | None] = [None] * df.height
    total: list[int] = [0] * df.height
    assistant: list[int] = [0] * df.height
    plain: list[int] = []
    for i, n, k in zip(chat, sizes, trained, strict=True):
        assistant[i] = k
        if n is None:
            flags[i] = "plain"
            plain.append(i)
        else:
            total[i] = n
    docs = [i for i, k in enumerate(kinds) if k == "text"]
    doc_texts = df["text"].to_list()
    texts = [doc_texts[i] or "" for i in docs] + [plain_render(systems[i], convs[i] or []) for i in plain]
    for i, n in zip(docs + plain, encode_lengths(texts, tokenizer), strict=True):
        total[i] = n
        if kinds[i] == "text":
            assistant[i] = n
    out = out.with_columns(
        pl.Series("score_tokens_rendered", total, dtype=pl.Int64),
        pl.Series("score_tokens_assistant", assistant, dtype=pl.Int64),
    )
    if any(flags):
        out = out.with_columns(pl.Series("tag_render", flags, dtype=pl.Utf8))
    return out


def needs_tokens(*units: str) -> bool:
    """Whether any of ``units`` is counted in tokens."""
    return any(u in ("tokens", "assistant_tokens") for u in units)
