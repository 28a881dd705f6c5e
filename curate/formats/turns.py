"""Checks every converter shares: turn text, role order, and the stable reject reasons.

A reason is ``category: detail`` with a fixed snake_case category (``bad_json``, ``bad_utf8``,
``not_an_object``, ``missing_field``, ``empty_turn``, ``non_string_content``, ``unknown_role``,
``role_order``, ``misplaced_system``, ``empty_conversation``, ``bad_history``, ``bad_tool_call``,
``empty_text``, ``bad_csv``), so rejects can be counted by category and read by people.
Turn numbers count canonical turns from 1, the system prompt not included.
"""

from __future__ import annotations

from typing import Any

# What a converter returns: (kind, system, messages, tools, text).
Row = tuple[str, "str | None", "list[dict[str, str]]", "str | None", "str | None"]

# Which roles may follow which: (user|tool) asks, (assistant|tool_call) answers. A tool result may
# follow a call or another result (parallel calls) and is answered by the assistant or a new call.
_NEXT: dict[str, frozenset[str]] = {
    "": frozenset({"user"}),
    "user": frozenset({"assistant", "tool_call"}),
    "assistant": frozenset({"user", "tool_call"}),
    "tool_call": frozenset({"tool"}),
    "tool": frozenset({"tool", "assistant", "tool_call"}),
}
_CAN_END = frozenset({"assistant", "tool_call"})


class RecordError(Exception):
    """One raw record cannot become a canonical row; ``reason`` is the reject reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def turn_text(value: Any, turn: int) -> str:
    """``value`` as a turn's text, or RecordError(empty_turn / non_string_content)."""
    if isinstance(value, str):
        if not value.strip():
            raise RecordError(f"empty_turn: turn {turn}")
        return value
    if value is None:
        raise RecordError(f"empty_turn: turn {turn}")
    raise RecordError(f"non_string_content: turn {turn} ({type(value).__name__})")


def field_text(rec: dict[str, Any], key: str, *, required: bool) -> str | None:
    """A string field of a flat record (``None``/absent allowed unless ``required``)."""
    value = rec.get(key)
    if value is None:
        if required:
            raise RecordError(f"missing_field: {key}")
        return None
    if not isinstance(value, str):
        raise RecordError(f"non_string_content: {key} ({type(value).__name__})")
    return value


def optional_system(value: Any) -> str | None:
    """A system prompt: blank means none, non-strings are rejected."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"non_string_content: system ({type(value).__name__})")
    return value if value.strip() else None


def drop_leading_assistant(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Turns from the first user turn on.

    ShareGPT dumps split long chats into chunks, so a chunk often starts mid-answer with no
    question; without its question that answer teaches nothing, and the rest of the chunk is a
    valid dialogue. Opt-in per source (``drop_leading_assistant: true``) because it drops text.
    """
    for i, m in enumerate(messages):
        if m["role"] == "user":
            return messages[i:] if i else messages
    return messages


def check_order(messages: list[dict[str, str]]) -> None:
    """Raise RecordError(role_order / empty_conversation) unless the turns form a valid dialogue."""
    if not messages:
        raise RecordError("empty_conversation: no turns")
    prev = ""
    for i, m in enumerate(messages, 1):
        role = m["role"]
        if role not in _NEXT[prev]:
            if not prev:
                raise RecordError(f"role_order: conversation starts with {role}")
            if role == prev:
                raise RecordError(f"role_order: two {role} turns in a row at turn {i}")
            raise RecordError(f"role_order: {role} after {prev} at turn {i}")
        prev = role
    if prev not in _CAN_END:
        raise RecordError(f"role_order: conversation ends with {prev}")
