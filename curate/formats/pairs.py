"""Alpaca (``instruction/input/output/system/history``) and ChatGLM-style prompt/response/history.

Both are one final question-answer pair plus earlier ``[question, answer]`` pairs, so one reader
serves both with different default field names; ``columns`` renames fields the way LLaMA-Factory's
dataset_info does (``prompt``/``query``/``response``/``system``/``history``).

Alpaca's ``instruction`` and ``input`` become one user turn joined by a newline (LLaMA-Factory
does the same); the canonical schema has no place for the split, so writing Alpaca back puts the
whole user turn in ``instruction`` and leaves ``input`` empty.
"""

from __future__ import annotations

from typing import Any

import orjson

from curate.errors import InputError, SchemaError
from curate.formats.turns import RecordError, Row, field_text, optional_system, turn_text

# LLaMA-Factory's column names and ours both work as `columns` keys.
_ALIASES = {"prompt": "prompt", "instruction": "prompt", "query": "query", "input": "query",
            "response": "response", "output": "response", "system": "system", "history": "history"}
_DEFAULTS = {
    "alpaca": {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
               "history": "history"},
    "prompt_response_history": {"prompt": "prompt", "query": "query", "response": "response",
                                "system": "system", "history": "history"},
}


class PairsReader:
    """Record -> (kind, system, messages, tools, text) for Alpaca or prompt/response/history."""

    def __init__(self, fmt: str, columns: dict[str, str]) -> None:
        fields = dict(_DEFAULTS[fmt])
        for key, name in columns.items():
            if key not in _ALIASES:
                raise InputError(
                    f"unknown columns key {key!r} for format {fmt}",
                    hint=f"valid keys: {', '.join(sorted(_ALIASES))}",
                )
            fields[_ALIASES[key]] = name
        self.prompt, self.query, self.response = fields["prompt"], fields["query"], fields["response"]
        self.system, self.history = fields["system"], fields["history"]

    def __call__(self, rec: dict[str, Any]) -> Row:
        messages: list[dict[str, str]] = []
        hist = rec.get(self.history)
        if isinstance(hist, str) and hist.strip():  # CSV cells carry history as JSON text
            try:
                hist = orjson.loads(hist)
            except orjson.JSONDecodeError:
                raise RecordError("bad_history: not a JSON list of [prompt, response] pairs") from None
        if hist:
            if not isinstance(hist, list):
                raise RecordError("bad_history: not a list of [prompt, response] pairs")
            for i, pair in enumerate(hist, 1):
                if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                    raise RecordError(f"bad_history: item {i} is not a [prompt, response] pair")
                messages.append({"role": "user", "content": turn_text(pair[0], 2 * i - 1)})
                messages.append({"role": "assistant", "content": turn_text(pair[1], 2 * i)})
        turn = len(messages) + 1
        prompt = field_text(rec, self.prompt, required=True)
        extra = field_text(rec, self.query, required=False)
        user = f"{prompt}\n{extra}" if prompt and extra else (prompt or extra)
        messages.append({"role": "user", "content": turn_text(user, turn)})
        answer = field_text(rec, self.response, required=True)
        messages.append({"role": "assistant", "content": turn_text(answer, turn + 1)})
        return "chat", optional_system(rec.get(self.system)), messages, None, None


def _pairs(row: dict[str, Any]) -> list[list[str]]:
    msgs = row["messages"] or []
    roles = [m["role"] for m in msgs]
    if len(msgs) < 2 or len(msgs) % 2 or roles != ["user", "assistant"] * (len(msgs) // 2):
        raise SchemaError(
            f"row {row.get('origin')}: turns {roles} are not user/assistant pairs",
            hint="Alpaca and prompt/response/history hold alternating user/assistant turns only; "
            "write sharegpt or openai, or add the `convert` stage to set such rows aside",
        )
    return [[msgs[i]["content"], msgs[i + 1]["content"]] for i in range(0, len(msgs), 2)]


def to_alpaca(row: dict[str, Any]) -> dict[str, Any]:
    """Canonical chat row -> Alpaca record (every key present, so Parquet and HF schemas agree)."""
    pairs = _pairs(row)
    return {"instruction": pairs[-1][0], "input": "", "output": pairs[-1][1],
            "system": row.get("system"), "history": pairs[:-1]}


def to_prompt_response(row: dict[str, Any]) -> dict[str, Any]:
    """Canonical chat row -> ``{prompt, response, history, system}``."""
    pairs = _pairs(row)
    return {"prompt": pairs[-1][0], "response": pairs[-1][1], "history": pairs[:-1],
            "system": row.get("system")}
