"""Plain text documents (``kind=text``) and curate's own canonical records.

Text comes from a field of a structured record (``text_field``, default ``text``) or straight
from a text/Markdown file (then the record is already a ``str``). Canonical records are what
``to_records(df, "canonical")`` writes, so a run's output can be read back as a source.
"""

from __future__ import annotations

from typing import Any

from curate.formats.sharegpt import check_columns, tools_text
from curate.formats.turns import RecordError, Row, check_order, optional_system, turn_text
from curate.schema import ROLES


class TextReader:
    """Record (or raw document string) -> a ``kind=text`` row."""

    def __init__(self, columns: dict[str, str], text_field: str) -> None:
        check_columns(columns, ("text",), "text")
        self.field = columns.get("text", text_field)

    def __call__(self, rec: dict[str, Any] | str) -> Row:
        text = rec if isinstance(rec, str) else rec.get(self.field)
        if text is None:
            raise RecordError(f"missing_field: {self.field}")
        if not isinstance(text, str):
            raise RecordError(f"non_string_content: {self.field} ({type(text).__name__})")
        if not text or text.isspace():  # not ``strip()``: that copies the document
            raise RecordError("empty_text: document is blank")
        return "text", None, [], None, text


class CanonicalReader:
    """A canonical record (as written by curate) -> a validated canonical row."""

    def __init__(self, columns: dict[str, str]) -> None:
        check_columns(columns, (), "canonical")
        self.text = TextReader({}, "text")

    def __call__(self, rec: dict[str, Any]) -> Row:
        kind = rec.get("kind")
        if not kind:
            kind = "text" if rec.get("text") is not None and not rec.get("messages") else "chat"
        if kind == "text":
            return self.text(rec)
        if kind != "chat":
            raise RecordError(f"bad_kind: {kind}")
        msgs = rec.get("messages")
        if msgs is None:
            raise RecordError("missing_field: messages")
        if not isinstance(msgs, list):
            raise RecordError("not_a_list: messages")
        out = []
        for i, m in enumerate(msgs, 1):
            if not isinstance(m, dict):
                raise RecordError(f"bad_turn: turn {i} is not an object")
            role = m.get("role")
            if role not in ROLES:
                raise RecordError(f"unknown_role: {role}")
            out.append({"role": role, "content": turn_text(m.get("content"), i)})
        check_order(out)
        return "chat", optional_system(rec.get("system")), out, tools_text(rec.get("tools")), None
