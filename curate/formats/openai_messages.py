"""OpenAI chat ``messages`` (system/user/assistant/tool, assistant ``tool_calls``) and ``tools``.

An assistant message with ``tool_calls`` becomes a canonical ``tool_call`` turn whose content is
the JSON of ``{"name", "arguments"}`` (a list when the message made several calls), the shape
LLaMA-Factory's ``function_call`` turns carry, so the same row writes to ShareGPT unchanged.
Arguments are parsed from their JSON string so that equal calls hash equal. Call ids are dropped
(they are random per generation and would defeat dedup); writing OpenAI again numbers them
``call_1``, ``call_2``... and hands them to the following ``tool`` turns in order.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from curate.formats.sharegpt import check_columns, tag_map, tools_text
from curate.formats.turns import (
    RecordError,
    Row,
    check_order,
    drop_leading_assistant,
    optional_system,
    turn_text,
)

DEFAULT_ROLES: dict[str, str] = {
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
    "system": "system",
    "developer": "system",
}
_COLUMN_KEYS = ("messages", "tools", "role_tag", "content_tag", "system")


def _content(value: Any, turn: int) -> str:
    """Message content: a string, or a list of text parts (joined by newlines)."""
    if isinstance(value, list):
        texts = []
        for part in value:
            if not isinstance(part, dict) or part.get("type", "text") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise RecordError(f"non_string_content: turn {turn} ({kind} part)")
            texts.append(part.get("text"))
        if not all(isinstance(t, str) for t in texts):
            raise RecordError(f"non_string_content: turn {turn}")
        value = "\n".join(texts)
    return turn_text(value, turn)


def _call(raw: Any, turn: int) -> dict[str, Any]:
    fn = raw.get("function", raw) if isinstance(raw, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise RecordError(f"bad_tool_call: turn {turn} has no function name")
    args = fn.get("arguments")
    if isinstance(args, str):
        # a broken argument string stays a string: models do emit those, and that is data too
        with contextlib.suppress(orjson.JSONDecodeError):
            args = orjson.loads(args) if args.strip() else {}
    return {"name": fn["name"], "arguments": args if args is not None else {}}


class OpenAIReader:
    """Record -> (kind, system, messages, tools, text) for OpenAI chat messages."""

    def __init__(self, columns: dict[str, str], roles: dict[str, str], *, drop_leading: bool = False) -> None:
        self.drop_leading = drop_leading
        check_columns(columns, _COLUMN_KEYS, "openai")
        self.messages = columns.get("messages", "messages")
        self.tools = columns.get("tools", "tools")
        self.system = columns.get("system", "system")
        self.role_tag = columns.get("role_tag", "role")
        self.content_tag = columns.get("content_tag", "content")
        self.roles = tag_map(DEFAULT_ROLES, roles)

    def __call__(self, rec: dict[str, Any]) -> Row:
        msgs = rec.get(self.messages)
        if msgs is None:
            raise RecordError(f"missing_field: {self.messages}")
        if not isinstance(msgs, list):
            raise RecordError(f"not_a_list: {self.messages}")
        system = optional_system(rec.get(self.system))
        out: list[dict[str, str]] = []
        for pos, msg in enumerate(msgs):
            n = len(out) + 1
            if not isinstance(msg, dict):
                raise RecordError(f"bad_turn: turn {n} is not an object")
            tag = msg.get(self.role_tag)
            role = self.roles.get(tag) if isinstance(tag, str) else None
            if role is None:
                raise RecordError(
                    f"unknown_role: {tag}"
                    if tag is not None
                    else f"unknown_role: turn {n} has no {self.role_tag!r}"
                )
            content = msg.get(self.content_tag)
            if role == "system":
                if pos != 0:
                    raise RecordError(f"misplaced_system: system message after turn {n - 1}")
                first = optional_system(_content(content, 0) if isinstance(content, list) else content)
                system = first if not system else (f"{first}\n\n{system}" if first else system)
                continue
            calls = msg.get("tool_calls") or ([msg["function_call"]] if msg.get("function_call") else [])
            if role == "assistant" and calls:
                if content is not None and content != "":
                    out.append({"role": "assistant", "content": _content(content, n)})
                    n += 1
                if not isinstance(calls, list):
                    raise RecordError(f"bad_tool_call: turn {n} tool_calls is not a list")
                parsed = [_call(c, n) for c in calls]
                body = parsed[0] if len(parsed) == 1 else parsed
                out.append({"role": "tool_call", "content": orjson.dumps(body).decode()})
                continue
            out.append({"role": role, "content": _content(content, n)})
        if self.drop_leading:
            out = drop_leading_assistant(out)
        check_order(out)
        return "chat", system, out, tools_text(rec.get(self.tools)), None


def to_openai(row: dict[str, Any]) -> dict[str, Any]:
    """Canonical chat row -> ``{"messages": [...], "tools": [...] | None}``."""
    msgs: list[dict[str, Any]] = []
    if row.get("system"):
        msgs.append({"role": "system", "content": row["system"]})
    ids: list[str] = []
    n_calls = 0
    prev = None
    for m in row["messages"] or []:
        role, content = m["role"], m["content"]
        if role == "tool_call":
            try:
                body = orjson.loads(content)
            except orjson.JSONDecodeError:
                body = {"name": "unknown", "arguments": content}
            calls = []
            ids = []
            for c in body if isinstance(body, list) else [body]:
                n_calls += 1
                ids.append(f"call_{n_calls}")
                args = c.get("arguments", {}) if isinstance(c, dict) else c
                calls.append(
                    {
                        "id": ids[-1],
                        "type": "function",
                        "function": {
                            "name": c.get("name", "unknown") if isinstance(c, dict) else "unknown",
                            "arguments": args if isinstance(args, str) else orjson.dumps(args).decode(),
                        },
                    }
                )
            if prev == "assistant" and "tool_calls" not in msgs[-1]:
                msgs[-1]["tool_calls"] = calls
            else:
                msgs.append({"role": "assistant", "content": None, "tool_calls": calls})
        elif role == "tool":
            msgs.append(
                {
                    "role": "tool",
                    "tool_call_id": ids.pop(0) if len(ids) > 1 else (ids[0] if ids else "call_0"),
                    "content": content,
                }
            )
        else:
            msgs.append({"role": role, "content": content})
        prev = role
    tools: Any = row.get("tools")
    if tools:
        with contextlib.suppress(orjson.JSONDecodeError):
            tools = orjson.loads(tools)
    return {"messages": msgs, "tools": tools}
