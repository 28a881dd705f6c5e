"""Per-turn expressions for chat rules: the list of turns a field selects, and per-turn predicates.

``field_text`` joins turns into one string; rules that judge each turn on its own (empty turn,
placeholder answer, mid-sentence start, echo) need the turns as a list instead. A document row is
one "turn": its text.
"""

from __future__ import annotations

import polars as pl

from curate.fields import Field


def _is_last_assistant() -> pl.Expr:
    role = pl.element().struct.field("role")
    idx = pl.int_range(pl.len())
    return idx == idx.filter(role == "assistant").max()


def turn_mask(field: Field) -> pl.Expr:
    """Inside ``messages.list.eval``: True for the turns ``field`` selects (system is not a turn)."""
    role = pl.element().struct.field("role")
    if field == "user":
        return role == "user"
    if field == "first_user":
        idx = pl.int_range(pl.len())
        return idx == idx.filter(role == "user").min()
    if field == "assistant":
        return role == "assistant"
    if field == "last_assistant":
        return _is_last_assistant()
    if field == "system":
        return pl.lit(False)
    return pl.lit(True)


def turns(field: Field) -> pl.Expr:
    """List of the selected turns' contents (nulls as ""); ``[text]`` for documents."""
    el = pl.element()
    chat = pl.col("messages").list.eval(el.struct.field("content").fill_null("").filter(turn_mask(field)))
    if field == "system":
        chat = pl.concat_list(pl.col("system")).list.drop_nulls()
    doc = pl.concat_list(pl.col("text").fill_null(""))
    return (
        pl.when(pl.col("kind") == "text")
        .then(doc)
        .otherwise(chat.fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))
    )


def count_turns(field: Field, pred: pl.Expr) -> pl.Expr:
    """Number of selected turns for which ``pred`` (an expression of ``pl.element()``) is true."""
    return turns(field).list.eval(pred.cast(pl.Int64)).list.sum().fill_null(0).cast(pl.Int64)
