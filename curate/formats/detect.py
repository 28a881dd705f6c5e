"""Guess a chat format from a sample of records, by the keys they carry.

Each record votes (``conversations`` -> sharegpt, ``messages`` of role/content -> openai, or
canonical when ``kind`` is there too, ``instruction``/``output`` -> alpaca, ``prompt``/``response``
-> prompt_response_history, a lone text field -> text); the most common vote wins, so a few
broken records do not flip the choice. A ``columns`` mapping is honoured: its keys say which
fields the records have under LLaMA-Factory's names.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from curate.errors import InputError

SAMPLE = 64
_PAIR_KEYS = ("prompt", "instruction", "query", "input", "response", "output")


def _guess(rec: Any, columns: dict[str, str], text_field: str) -> str | None:
    if not isinstance(rec, dict):
        return None
    msgs_key = columns.get("messages") or columns.get("conversations")
    if msgs_key is None:
        msgs_key = "conversations" if "conversations" in rec else "messages"
    msgs = rec.get(msgs_key)
    if isinstance(msgs, list):
        if "kind" in rec and msgs_key == "messages" and not columns:
            return "canonical"
        first = next((m for m in msgs if isinstance(m, dict)), {})
        role_tag = columns.get("role_tag")
        if msgs_key == "conversations" or "from" in first or (role_tag and role_tag != "role"):
            return "sharegpt"
        return "openai"
    if any(k in columns for k in _PAIR_KEYS):
        return "alpaca"
    if "kind" in rec and ("text" in rec or "messages" in rec):
        return "canonical"
    if "instruction" in rec or ("output" in rec and "input" in rec):
        return "alpaca"
    if "prompt" in rec or ("response" in rec and "history" in rec):
        return "prompt_response_history"
    if columns.get("text", text_field) in rec:
        return "text"
    return None


def detect_format(records: list[Any], *, columns: dict[str, str] | None = None,
                  text_field: str = "text") -> str:
    """The chat format most of ``records`` look like; InputError naming the keys seen if none.

    >>> detect_format([{"instruction": "Hi", "input": "", "output": "Hello"}])
    'alpaca'
    """
    votes = Counter(g for r in records[:SAMPLE] if (g := _guess(r, columns or {}, text_field)))
    if votes:
        return votes.most_common(1)[0][0]
    keys = sorted({k for r in records[:SAMPLE] if isinstance(r, dict) for k in r})
    raise InputError(
        f"cannot detect the format from keys {keys or '(no JSON objects)'}",
        hint="set the format (recipe format:, CLI --format/--from: alpaca, sharegpt, openai, "
        "prompt_response_history, canonical, text) and, if the field names differ, the columns (recipe "
        "columns: {prompt: query, response: response}, CLI --columns prompt=query,response=response)",
    )
