"""A chat row -> token ids and its assistant-token loss mask (what training uses), and fast counts.

Why prefixes: the only template-agnostic way to know which tokens an assistant turn owns is to
render the conversation up to that turn (with the generation prompt) and through it, and check that
both token sequences are prefixes of the whole conversation's tokens. Searching for marker strings
breaks on every template that differs from the one it was written for; a template that breaks the
prefix property (e.g. one that rewrites earlier turns) fails loudly here instead of training on a
wrong mask.

Special-token strings written inside message contents (a user quoting ``<|im_end|>``) are encoded as
plain text, never as control tokens (``curate.chat.special_tokens``); ``filter.special_tokens``
removes such rows. A row whose every answer is blank is dropped as ``empty_assistant_turn``.

A row longer than ``max_len`` goes through ``curate.chat.truncate`` (the same truncation as the
``truncate.history`` stage) before it is encoded; one still too long is dropped (``too_long``).

Cost: one Jinja render per trained turn and two per prefix check, all tokenized in one batch per
row: about 1-2 ms a row for short chats. ``curate.chat.count.count_tokens`` gives the same numbers
for a whole table without the prefix renders (one render + encode per row), for mixing and reports.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from curate.chat.render import ChatRenderer, ChatTurns
from curate.chat.special_tokens import Shield
from curate.chat.truncate import truncate
from curate.errors import TrainError


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


class ChatEncoder:
    """Render rows with ``tokenizer.chat_template`` and mask everything but the trained turns.

    ``policy`` is the truncation policy for rows over ``max_len`` (see ``curate.chat.truncate``).
    """

    def __init__(
        self, tokenizer: Any, *, max_len: int, last_turn_only: bool = False, policy: str = "truncate_user"
    ):
        if not getattr(tokenizer, "chat_template", None):
            raise TrainError(
                f"tokenizer {getattr(tokenizer, 'name_or_path', '?')!r} has no chat template",
                hint="train chat rows with a chat model, or give kind=text rows for continued pretraining",
            )
        self.tok = tokenizer
        self.renderer = ChatRenderer(tokenizer)
        self.max_len = max_len
        self.last_turn_only = last_turn_only
        self.policy = policy
        self.shield = Shield(tokenizer)

    def turns(self, row: dict[str, Any]) -> ChatTurns:
        """The template's messages for ``row`` (see ``ChatRenderer.turns``), literal special tokens in
        the contents swapped for sentinels that ``ids`` encodes as plain text."""
        return self._shielded(self.renderer.row_turns(row))

    def _shielded(self, t: ChatTurns) -> ChatTurns:
        msgs = self.shield.shield(t.messages)
        return t if msgs is None else ChatTurns(msgs, t.trained, t.tools, t.exchanges, t.empty)

    def render(self, msgs: Sequence[dict[str, Any]], tools: list[Any] | None, *, prompt: bool = False) -> str:
        return self.renderer.render(msgs, tools, prompt=prompt)

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of rendered ``texts``: one batched call; shield sentinels become literal text."""
        return self.shield.encode(list(texts))

    def prompt_ids(self, row: dict[str, Any]) -> list[int]:
        """Ids of ``row`` (``system`` + ``messages``) rendered with the generation prompt: what a model
        answers from (generation, multiple-choice scoring)."""
        t = self.turns(row)
        return self.ids([self.render(t.messages, t.tools, prompt=True)])[0]

    def encode(self, row: dict[str, Any]) -> Encoded | Dropped:
        """Ids and mask for one chat row, or the reason it cannot be an example."""
        rid = str(row.get("id"))
        t = self.turns(row)
        if not t.trained:
            if t.empty:
                return Dropped(rid, "empty_assistant_turn", f"{t.empty} blank answer(s), none trainable")
            return Dropped(rid, "no_assistant_turn")
        try:
            full = self.ids([self.render(t.messages, t.tools)])[0]
            dropped = 0
            if len(full) > self.max_len:
                fitted = self._fit(row)
                if isinstance(fitted, Dropped):
                    return fitted
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
        toks = self.ids(texts)
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

    def _fit(self, row: dict[str, Any]) -> tuple[ChatTurns, list[int], int] | Dropped:
        """The row shortened by ``curate.chat.truncate``, re-rendered; Dropped if it cannot fit."""
        rid = str(row.get("id"))
        fit = truncate(
            self.renderer, [row.get("system")], [row.get("messages")], budget=self.max_len,
            policy=self.policy, tools=[row.get("tools")],
        )  # fmt: skip
        if not fit.kept(0):
            reason = "template_error" if fit.tag[0] == "template_error" else "too_long"
            return Dropped(rid, reason, f"{fit.tag[0]}: final exchange alone exceeds max_len={self.max_len}")
        t = self._shielded(self.renderer.turns(row.get("system"), fit.messages[0], row.get("tools")))
        if not t.trained:
            return Dropped(rid, "no_assistant_turn", "truncation left no trained turn")
        ids = self.ids([self.render(t.messages, t.tools)])[0]
        if len(ids) > self.max_len:
            return Dropped(rid, "too_long", f"{len(ids)} tokens after truncation > max_len={self.max_len}")
        return t, ids, fit.dropped[0]


def spans(ids: Sequence[int], mask: Sequence[int]) -> Iterator[tuple[int, list[int]]]:
    """Runs of consecutive ids sharing one mask value: ``(mask, ids)``."""
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or mask[i] != mask[start]:
            yield int(mask[start]), list(ids[start:i])
            start = i
