"""Canonical rows -> token ids and a loss mask, using the model's own chat template.

Why prefixes: the only template-agnostic way to know which tokens an assistant turn owns is to
render the conversation up to that turn (with the generation prompt) and through it, and check that
both token sequences are prefixes of the whole conversation's tokens. Searching for marker strings
breaks on every template that differs from the one it was written for; a template that breaks the
prefix property (e.g. one that rewrites earlier turns) fails loudly here instead of training on a
wrong mask.

Over-length chat rows lose their oldest whole exchanges (a user turn and every reply up to the next
user turn), keeping the system prompt and the final answer; rows that still do not fit are dropped
with reason ``too_long`` and counted. Documents (``kind=text``) become one token stream with EOS
after each document, cut into ``max_len`` blocks; the short last block is kept and counted.

A blank assistant turn stays in the context but is not trained (it would teach the end-of-turn
token alone); a row whose every answer is blank is dropped as ``empty_assistant_turn``. Special-token
strings written inside message contents (a user quoting ``<|im_end|>``) are encoded as plain text,
never as control tokens (see ``curate.special_tokens``); ``filter.special_tokens`` removes such rows.

Cost: one Jinja render per trained turn and two per prefix check, all tokenized in one batch per
row — about 1-2 ms a row for short chats, paid once because the result is cached on disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from curate.errors import TrainError
from curate.special_tokens import Shield

TRAINED_ROLES = ("assistant", "tool_call")
TOOLS_HEADER = "You can call these tools (JSON schema):\n"


@dataclass
class Encoded:
    """One training example: token ids, a 0/1 target mask over them, and the rows it came from."""

    ids: list[int]
    mask: list[int]
    row_ids: list[str]
    kind: str = "chat"
    dropped_exchanges: int = 0

    @property
    def n_targets(self) -> int:
        return int(sum(self.mask[1:]))  # token 0 has no context to be predicted from


@dataclass
class Dropped:
    """A row that yields no example, with the reason that goes into the training report."""

    row_id: str
    reason: str
    detail: str = ""


@dataclass
class ChatTurns:
    """A row in the shape the chat template expects, plus which messages are trained."""

    messages: list[dict[str, Any]]
    trained: list[int]
    tools: list[Any] | None = None
    exchanges: list[int] = field(default_factory=list)  # index where each user exchange starts
    empty: int = 0  # trained-role turns left untrained because they are blank
    literal_specials: bool = False  # contents had special-token strings, swapped for sentinels


class ChatEncoder:
    """Render rows with ``tokenizer.chat_template`` and mask everything but the trained turns."""

    def __init__(self, tokenizer: Any, *, max_len: int, last_turn_only: bool = False):
        template = getattr(tokenizer, "chat_template", None)
        if not template:
            raise TrainError(
                f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template",
                hint="train chat rows with a chat model, or give kind=text rows for continued pretraining",
            )
        self.tok = tokenizer
        self.max_len = max_len
        self.last_turn_only = last_turn_only
        self.native_tools = "tools" in template
        self.native_tool_calls = "tool_calls" in template
        self.shield = Shield(tokenizer)

    # --- row -> template messages -----------------------------------------------------------------
    def turns(self, row: dict[str, Any]) -> ChatTurns:
        """Map canonical roles onto the template's: tool_call -> assistant, tool -> tool.

        Tools go to the template's ``tools`` argument when it has one, else into the system prompt,
        so the model always sees the schema it is trained to call.
        """
        system, tools_text = row.get("system"), row.get("tools")
        tools = None
        if tools_text:
            parsed = _json_or_none(tools_text)
            if self.native_tools and isinstance(parsed, list):
                tools = parsed
            else:
                system = (
                    f"{system}\n\n{TOOLS_HEADER}{tools_text}" if system else f"{TOOLS_HEADER}{tools_text}"
                )
        msgs: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        trained, exchanges, empty = [], [], 0
        for m in row.get("messages") or []:
            role, content = m["role"], m["content"] or ""
            if role == "user" or not exchanges:
                exchanges.append(len(msgs))
            if role in TRAINED_ROLES:
                if content.strip():
                    trained.append(len(msgs))
                else:  # a blank answer would train the end-of-turn token alone
                    empty += 1
            msgs.append(self._message(role, content))
        shielded = self.shield.shield(msgs)
        return ChatTurns(shielded or msgs, trained, tools, exchanges, empty, shielded is not None)

    def _message(self, role: str, content: str) -> dict[str, Any]:
        if role != "tool_call":
            return {"role": role, "content": content}
        call = _json_or_none(content)
        if self.native_tool_calls and isinstance(call, dict) and "name" in call:
            fn = {"name": call["name"], "arguments": call.get("arguments", {})}
            return {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": fn}]}
        return {"role": "assistant", "content": content}

    def render(self, msgs: Sequence[dict[str, Any]], tools: list[Any] | None, *, prompt: bool = False) -> str:
        """Template text for ``msgs``; ``prompt`` appends the assistant header (generation prompt)."""
        if not msgs:
            return ""
        return self.tok.apply_chat_template(
            list(msgs), tools=tools, tokenize=False, add_generation_prompt=prompt
        )

    def _ids(self, texts: list[str]) -> list[list[int]]:
        # One batched tokenizer call, as before, unless a render holds sentinels (see special_tokens).
        return self.shield.encode(texts)

    # --- encode ---------------------------------------------------------------------------------
    def encode(self, row: dict[str, Any]) -> Encoded | Dropped:
        """Ids and mask for one chat row, or the reason it cannot be an example."""
        rid = str(row.get("id"))
        t = self.turns(row)
        if not t.trained:
            if t.empty:
                return Dropped(rid, "empty_assistant_turn", f"{t.empty} blank answer(s), none trainable")
            return Dropped(rid, "no_assistant_turn")
        try:
            fitted = self._fit(t)
            if fitted is None:
                return Dropped(rid, "too_long", f"final exchange alone exceeds max_len={self.max_len}")
            t, full, dropped = fitted
            trained = t.trained[-1:] if self.last_turn_only else t.trained
            texts = []
            for i in trained:
                texts += [
                    self.render(t.messages[:i], t.tools, prompt=True),
                    self.render(t.messages[: i + 1], t.tools),
                ]
        except TrainError:
            raise
        except Exception as e:  # a template that rejects this row's roles or order: drop it, say why
            return Dropped(rid, "template_error", f"{type(e).__name__}: {e}")
        toks = self._ids(texts)
        mask = [0] * len(full)
        for k, i in enumerate(trained):
            before, through = toks[2 * k], toks[2 * k + 1]
            for part, what in ((before, "up to"), (through, "through")):
                if full[: len(part)] != part:
                    raise TrainError(
                        f"chat template of {self.tok.name_or_path!r} breaks the prefix property: the "
                        f"conversation rendered {what} turn {i} does not tokenize as a prefix of the "
                        f"whole (row {rid})",
                        hint="this template rewrites earlier turns (e.g. strips reasoning); use a template "
                        "that renders history unchanged, or last_turn_only: true",
                    )
            mask[len(before) : len(through)] = [1] * (len(through) - len(before))
        if not any(mask[1:]):
            return Dropped(rid, "no_trained_tokens")
        return Encoded(full, mask, [rid], "chat", dropped)

    def _fit(self, t: ChatTurns) -> tuple[ChatTurns, list[int], int] | None:
        """Drop the oldest whole exchanges until the render fits ``max_len``; None if it never does."""
        full = self._ids([self.render(t.messages, t.tools)])[0]
        if len(full) <= self.max_len:
            return t, full, 0
        starts = t.exchanges
        if len(starts) < 2:
            return None
        head = t.messages[: starts[0]]  # the system prompt, if any
        # Token length of the render up to each exchange start; dropping exchanges [0, k) saves about
        # prefix[k] - prefix[0] tokens. Start from that estimate and confirm by rendering.
        prefix = [len(x) for x in self._ids([self.render(t.messages[:s], t.tools) for s in starts])]
        k = 1
        while k < len(starts) - 1 and len(full) - (prefix[k] - prefix[0]) > self.max_len:
            k += 1
        while k < len(starts):
            cut = starts[k] - len(head)
            msgs = head + t.messages[starts[k] :]
            ids = self._ids([self.render(msgs, t.tools)])[0]
            if len(ids) <= self.max_len:
                kept = [i - cut for i in t.trained if i >= starts[k]]
                return ChatTurns(msgs, kept, t.tools, [s - cut for s in starts[k:]]), ids, k
            k += 1
        return None


def text_blocks(
    docs: Iterable[tuple[str, str]], tokenizer: Any, *, max_len: int, batch_rows: int = 256
) -> Iterator[Encoded]:
    """Continued pretraining: ``(row_id, text)`` documents + EOS as one stream cut into blocks.

    Every token is a target. Blocks may span documents (EOS marks the seam), as in standard
    pretraining; the last, shorter block is yielded rather than dropped.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise TrainError("tokenizer has no EOS token to separate documents")
    buf: list[int] = []
    owners: list[tuple[int, str]] = []  # (start offset in buf, row id)
    pending: list[tuple[str, str]] = []

    def flush_docs() -> None:
        # split_special_tokens: a document quoting "<|im_end|>" is text, not an end of turn
        ids = tokenizer([t for _, t in pending], add_special_tokens=False, split_special_tokens=True)[
            "input_ids"
        ]
        for (rid, _), toks in zip(pending, ids, strict=False):
            owners.append((len(buf), rid))
            buf.extend(toks)
            buf.append(eos)
        pending.clear()

    def take(n: int) -> Encoded:
        ends = [s for s, _ in owners[1:]] + [len(buf)]
        rids = [rid for (start, rid) in owners if start < n]
        owners[:] = [(max(s - n, 0), rid) for (s, rid), end in zip(owners, ends, strict=False) if end > n]
        block = buf[:n]
        del buf[:n]
        return Encoded(block, [1] * len(block), rids, "text")

    for doc in docs:
        pending.append(doc)
        if len(pending) >= batch_rows:
            flush_docs()
            while len(buf) >= max_len:
                yield take(max_len)
    if pending:
        flush_docs()
    while len(buf) >= max_len:
        yield take(max_len)
    if buf:
        yield take(len(buf))


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None
