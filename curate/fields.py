"""Polars expressions that pull the text a rule looks at out of a canonical row.

``field`` is one of ``text`` (documents; for chat rows, every turn), ``user`` (all user turns),
``assistant`` (all assistant turns), ``last_assistant``, ``first_user``, ``system`` or ``all``
(system + every turn, or the document). Turns are joined by a newline so line-based rules work.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

Field = Literal["text", "user", "assistant", "last_assistant", "first_user", "system", "all"]
FIELDS: tuple[str, ...] = ("text", "user", "assistant", "last_assistant", "first_user", "system", "all")


def _role(role: str) -> pl.Expr:
    el = pl.element()
    return pl.col("messages").list.eval(el.filter(el.struct.field("role") == role).struct.field("content"))


def _all_turns() -> pl.Expr:
    return pl.col("messages").list.eval(pl.element().struct.field("content")).list.join("\n")


def field_text(field: Field = "all") -> pl.Expr:
    """Text of ``field`` for every row, never null (an absent field is the empty string)."""
    is_text = pl.col("kind") == "text"
    doc = pl.col("text").fill_null("")
    if field == "user":
        chat = _role("user").list.join("\n")
    elif field == "assistant":
        chat = _role("assistant").list.join("\n")
    elif field == "last_assistant":
        chat = _role("assistant").list.last()
    elif field == "first_user":
        chat = _role("user").list.first()
    elif field == "system":
        return pl.col("system").fill_null("")
    elif field == "text":
        chat = _all_turns()
    elif field == "all":
        sys = pl.col("system").fill_null("")
        chat = (
            pl.when(sys != "")
            .then(pl.concat_str([sys, _all_turns()], separator="\n"))
            .otherwise(_all_turns())
        )
    else:
        raise ValueError(f"unknown field {field!r}; valid: {', '.join(FIELDS)}")
    return pl.when(is_text).then(doc).otherwise(chat.fill_null("")).fill_null("")


def turn_count() -> pl.Expr:
    """Number of user/assistant turns (0 for documents)."""
    return pl.col("messages").list.len().fill_null(0)
