"""ShareGPT: ``conversations`` of ``{from, value}`` plus ``system`` and ``tools`` (LLaMA-Factory style).

Role tags default to ``human``/``gpt``/``function_call``/``observation``/``system`` (``user`` and
``assistant`` are accepted too); a source's ``roles`` adds tags, e.g. ``{assistant: chatgpt}``.
Any other tag is rejected as ``unknown_role`` rather than guessed: real ShareGPT dumps mix in
``bing`` and ``bard`` turns, and whether those count as the assistant is the recipe's call.
A ``system`` turn at position 0 becomes the ``system`` field; a later one is ``misplaced_system``.
"""

from __future__ import annotations

from typing import Any

import orjson

from curate.errors import InputError
from curate.formats.turns import (
    RecordError,
    Row,
    check_order,
    drop_leading_assistant,
    optional_system,
    turn_text,
)

DEFAULT_TAGS: dict[str, str] = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "function_call": "tool_call",
    "observation": "tool",
    "system": "system",
}
WRITE_TAGS: dict[str, str] = {
    "user": "human",
    "assistant": "gpt",
    "tool_call": "function_call",
    "tool": "observation",
}
# Keys a `roles` mapping may use: canonical roles plus LLaMA-Factory's tag names.
ROLE_KEYS: dict[str, str] = {
    "user": "user",
    "assistant": "assistant",
    "tool_call": "tool_call",
    "tool": "tool",
    "system": "system",
    "function_call": "tool_call",
    "function": "tool_call",
    "observation": "tool",
}
_COLUMN_KEYS = ("messages", "conversations", "system", "tools", "role_tag", "content_tag")


def tag_map(defaults: dict[str, str], roles: dict[str, str]) -> dict[str, str]:
    """Source tag -> canonical role: the defaults plus the recipe's ``{canonical: tag}`` entries."""
    tags = dict(defaults)
    for key, tag in roles.items():
        if key not in ROLE_KEYS:
            raise InputError(f"unknown role {key!r} in roles", hint=f"valid: {', '.join(ROLE_KEYS)}")
        tags[tag] = ROLE_KEYS[key]
    return tags


def tools_text(value: Any) -> str | None:
    """A tool schema as canonical text: strings kept, JSON values dumped, blank means none."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode() if value else None
    raise RecordError(f"non_string_content: tools ({type(value).__name__})")


def check_columns(columns: dict[str, str], allowed: tuple[str, ...], fmt: str) -> None:
    for key in columns:
        if key not in allowed:
            raise InputError(
                f"unknown columns key {key!r} for format {fmt}",
                hint=f"valid: {', '.join(allowed) or '(none)'}",
            )


class ShareGPTReader:
    """Record -> (kind, system, messages, tools, text) for ShareGPT."""

    def __init__(self, columns: dict[str, str], roles: dict[str, str], *, drop_leading: bool = False) -> None:
        self.drop_leading = drop_leading
        check_columns(columns, _COLUMN_KEYS, "sharegpt")
        self.messages = columns.get("messages") or columns.get("conversations")
        self.system = columns.get("system", "system")
        self.tools = columns.get("tools", "tools")
        self.role_tag = columns.get("role_tag", "from")
        self.content_tag = columns.get("content_tag", "value")
        self.fixed_tags = "role_tag" in columns
        self.tags = tag_map(DEFAULT_TAGS, roles)

    def __call__(self, rec: dict[str, Any]) -> Row:
        key = self.messages or (
            "conversations" if "conversations" in rec or "messages" not in rec else "messages"
        )
        turns = rec.get(key)
        if turns is None:
            raise RecordError(f"missing_field: {key}")
        if not isinstance(turns, list):
            raise RecordError(f"not_a_list: {key}")
        system = optional_system(rec.get(self.system))
        role_tag, content_tag = self.role_tag, self.content_tag
        if (
            not self.fixed_tags
            and turns
            and isinstance(turns[0], dict)
            and role_tag not in turns[0]
            and "role" in turns[0]
        ):  # LLaMA-Factory's sharegpt with OpenAI-style tags
            role_tag, content_tag = "role", "content"
        messages: list[dict[str, str]] = []
        tags = self.tags
        for pos, turn in enumerate(turns):  # hot loop: checks inline, helpers only on the error path
            if turn.__class__ is not dict:
                raise RecordError(f"bad_turn: turn {len(messages) + 1} is not an object")
            tag = turn.get(role_tag)
            role = tags.get(tag) if tag.__class__ is str else None
            if role is None:
                n = len(messages) + 1
                raise RecordError(
                    f"unknown_role: {tag}"
                    if tag is not None
                    else f"unknown_role: turn {n} has no {role_tag!r}"
                )
            value = turn.get(content_tag)
            if role == "system":
                if pos != 0:
                    raise RecordError(f"misplaced_system: system turn after turn {len(messages)}")
                first = optional_system(value)
                system = first if not system else (f"{first}\n\n{system}" if first else system)
                continue
            if value.__class__ is not str or not value.strip():
                turn_text(value, len(messages) + 1)  # raises the precise reason
            messages.append({"role": role, "content": value})
        if self.drop_leading:
            messages = drop_leading_assistant(messages)
        check_order(messages)
        return "chat", system, messages, tools_text(rec.get(self.tools)), None
