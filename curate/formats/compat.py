"""Which canonical rows a target format can represent, as one polars expression."""

from __future__ import annotations

import polars as pl

_CHAT_ONLY = ("alpaca", "sharegpt", "openai", "prompt_response_history")
_NO_TOOLS = ("alpaca", "prompt_response_history")


def _has_role(role: str) -> pl.Expr:
    return pl.col("messages").list.eval(pl.element().struct.field("role") == role).list.any()


def incompatibility(fmt: str) -> pl.Expr:
    """Null where a row fits ``fmt``, else a snake_case reason (``document_not_alpaca``...)."""
    is_text = pl.col("kind") == "text"
    expr = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Utf8))
    if fmt in _CHAT_ONLY:
        expr = expr.when(is_text).then(pl.lit(f"document_not_{fmt}"))
    if fmt in _NO_TOOLS:
        tools = _has_role("tool_call") | _has_role("tool")
        expr = expr.when(~is_text & tools.fill_null(False)).then(pl.lit(f"tool_turns_not_{fmt}"))
    return expr.otherwise(pl.lit(None, dtype=pl.Utf8))
