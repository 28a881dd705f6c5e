"""Canonical rows -> the (context, answer) token pairs a loss-based score needs.

One row gives one pair per scored assistant turn (the last, or every one): ``context`` is the
conversation rendered up to the turn with the template's generation header (system prompt and
history included), ``answer`` the tokens the turn owns, exactly as training masks them. For IFD the
same answer is also paired with an *alone* context: the generation header only (plus BOS where the
tokenizer adds one), so the model sees that an assistant speaks, but not what was asked.

``render="plain"`` skips the template, as Cherry, Superfiltering and Data-Juicer do: the context is
the system prompt and user turns joined by newlines, the alone context is empty (so the answer's
first token is not scored there; IFD compares means, so the counts need not match).

Documents (``kind=text``) are one pair ``([], text)`` under every part. ``part="conversation"``
scores every token of the rendered conversation.

Cost: two or three template renders per scored turn and one batched tokenizer call for all rows;
~1 ms a row here, small beside the model (~1 s a row).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from curate.lm.likelihood import Row, clip

Part = Literal["answer", "conversation", "text"]
Turns = Literal["last", "all"]
Render = Literal["chat", "plain"]
SCORED_ROLES = ("assistant", "tool_call")


@dataclass
class Pairs:
    """Pairs for a table: ``row[i]`` is the table row pair ``i`` belongs to."""

    row: np.ndarray
    cond: list[Row]
    alone: list[Row]
    clipped: np.ndarray

    def __len__(self) -> int:
        return len(self.cond)


def _template_messages(system: str | None, messages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    out = [{"role": "system", "content": system}] if system else []
    for m in messages:
        role = "assistant" if m["role"] == "tool_call" else m["role"]
        out.append({"role": role, "content": m["content"] or ""})
    return out


class _Renderer:
    """Renders prefixes of a conversation with the tokenizer's chat template (text, not ids)."""

    def __init__(self, tokenizer: Any):
        self.tok = tokenizer

    def text(self, msgs: list[dict[str, str]], *, gen: bool) -> str:
        return self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)

    def turn(self, msgs: list[dict[str, str]], i: int) -> tuple[str, str, str]:
        """(text before turn ``i`` with header, the turn's own text, the header alone)."""
        before = self.text(msgs[:i], gen=True) if i else ""
        through = self.text(msgs[: i + 1], gen=False)
        plain = self.text(msgs[:i], gen=False) if i else ""
        header = before[len(plain) :] if before.startswith(plain) else ""
        if not through.startswith(before):
            raise ValueError("chat template does not render turns as prefixes")
        return before, through[len(before) :], header


def _ids(tok: Any, texts: list[str]) -> list[list[int]]:
    if not texts:
        return []
    return tok(texts, add_special_tokens=False)["input_ids"]


def _bos(tok: Any) -> list[int]:
    """[BOS] when the tokenizer adds one to plain text (Llama), else [] (SmolLM2, Qwen)."""
    probe = tok("a", add_special_tokens=True)["input_ids"]
    bos = getattr(tok, "bos_token_id", None)
    return [bos] if bos is not None and probe and probe[0] == bos else []


def encode_pairs(
    df: pl.DataFrame,
    tokenizer: Any,
    *,
    part: Part = "answer",
    turns: Turns = "last",
    render: Render = "chat",
    max_answer_tokens: int | None = None,
    max_tokens: int | None = None,
) -> Pairs:
    """(context, answer) pairs for every scored turn of every row, clipped to the caps."""
    rows: list[int] = []
    ctx_t: list[str] = []
    ans_t: list[str] = []
    alone_t: list[str] = []
    r = _Renderer(tokenizer)
    bos = _bos(tokenizer)
    cols = [c for c in ("kind", "system", "messages", "text") if c in df.columns]
    for k, rec in enumerate(df.select(cols).iter_rows(named=True)):
        if rec.get("kind") == "text" or part == "text":
            if rec.get("text"):
                rows.append(k)
                ctx_t.append("")
                ans_t.append(rec["text"])
                alone_t.append("")
            continue
        msgs = rec.get("messages") or []
        idx = [i for i, m in enumerate(msgs) if m["role"] in SCORED_ROLES and m["content"]]
        if not idx:
            continue
        if part == "conversation":
            rows.append(k)
            ctx_t.append("")
            full = _template_messages(rec.get("system"), msgs)
            ans_t.append(r.text(full, gen=False) if render == "chat" else _plain(full))
            alone_t.append("")
            continue
        for i in idx if turns == "all" else idx[-1:]:
            full = _template_messages(rec.get("system"), msgs[: i + 1])
            j = len(full) - 1
            if render == "chat":
                before, own, header = r.turn(full, j)
            else:
                before, own, header = _plain(full[:j]) + "\n", full[j]["content"], ""
            rows.append(k)
            ctx_t.append(before)
            ans_t.append(own)
            alone_t.append(header)
    lead = bos if render == "chat" else []
    cond = _split(tokenizer, ctx_t, ans_t, lead, max_answer_tokens, max_tokens)
    alone = _split(tokenizer, alone_t, ans_t, lead, max_answer_tokens, max_tokens)
    clipped = np.array([cut for _, cut in cond], dtype=bool)
    return Pairs(np.asarray(rows, dtype=np.int64), [p for p, _ in cond], [p for p, _ in alone], clipped)


def _split(
    tok: Any,
    before: list[str],
    own: list[str],
    lead: list[int],
    max_answer: int | None,
    max_total: int | None,
) -> list[tuple[Row, bool]]:
    """Tokenize ``before + own`` whole, as training does, and split it where ``before`` ends.

    Tokenizing the two parts apart could merge or split tokens differently at the boundary; the
    whole text is what the model is trained on. When the boundary falls inside a token (the
    tokens of ``before`` are not a prefix), the parts are tokenized apart instead.
    """
    heads = _ids(tok, before)
    wholes = _ids(tok, [b + o for b, o in zip(before, own, strict=True)])
    out = []
    for h, w, o in zip(heads, wholes, own, strict=True):
        if w[: len(h)] == h:
            c, a = [*lead, *h], w[len(h) :]
        else:
            c, a = [*lead, *h], _ids(tok, [o])[0]
        cc, ca = clip(c, a, max_answer=max_answer, max_total=max_total)
        out.append(((cc, ca), len(cc) < len(c) or len(ca) < len(a)))
    return out


def _plain(msgs: list[dict[str, str]]) -> str:
    """System prompt and turns joined by newlines: the untemplated prompt of Cherry/Superfiltering."""
    return "\n".join(m["content"] for m in msgs if m["content"])


def per_row(pairs: Pairs, n_rows: int, nll: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum pair NLLs and token counts into their rows (rows without pairs get 0 and 0)."""
    s = np.bincount(pairs.row, weights=nll, minlength=n_rows).astype(np.float64)
    t = np.bincount(pairs.row, weights=tokens, minlength=n_rows).astype(np.int64)
    return s, t
