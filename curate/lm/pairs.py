"""Canonical rows -> the (context, answer) token pairs a loss-based score needs.

One row gives one pair per scored assistant turn (the last, or every one): ``context`` is the
conversation rendered up to the turn with the template's generation header (system prompt and
history included), ``answer`` the tokens the turn owns, exactly as training masks them: both come
from ``curate.chat.ChatRenderer`` (role mapping, tools placement), the renderer training uses, and
the whole text is tokenized once and split where the context ends, as ``ChatEncoder`` does. For IFD the
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

from curate.chat import ChatRenderer, ChatTurns, plain_render
from curate.lm.likelihood import Row, clip

Part = Literal["answer", "conversation", "text"]
Turns = Literal["last", "all"]
Render = Literal["chat", "plain"]


@dataclass
class Pairs:
    """Pairs for a table: ``row[i]`` is the table row pair ``i`` belongs to."""

    row: np.ndarray
    cond: list[Row]
    alone: list[Row]
    clipped: np.ndarray

    def __len__(self) -> int:
        return len(self.cond)


def _turn_texts(r: ChatRenderer, t: ChatTurns, i: int) -> tuple[str, str, str]:
    """(text before template message ``i`` with the assistant header, the turn's own text, the
    header alone), rendered by the one chat renderer exactly as training renders them."""
    if not r.has_template:  # a base model: the renderer's plain blocks
        msgs = t.messages
        sys = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else None
        hist = msgs[1 if sys else 0 : i]
        before = (plain_render(sys, hist) + "\n\n" if sys or hist else "") + "Assistant: "
        return before, msgs[i]["content"] or "", "Assistant: "
    before = r.render(t.messages[:i], t.tools, prompt=True)
    through = r.render(t.messages[: i + 1], t.tools)
    plain = r.render(t.messages[:i], t.tools)
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
    r = ChatRenderer(tokenizer)
    bos = _bos(tokenizer)
    cols = [c for c in ("kind", "system", "messages", "tools", "text") if c in df.columns]
    for k, rec in enumerate(df.select(cols).iter_rows(named=True)):
        if rec.get("kind") == "text" or part == "text":
            if rec.get("text"):
                rows.append(k)
                ctx_t.append("")
                ans_t.append(rec["text"])
                alone_t.append("")
            continue
        t = r.turns(rec.get("system"), rec.get("messages"), rec.get("tools"))
        idx = [i for i in t.trained if t.messages[i].get("content") or t.messages[i].get("tool_calls")]
        if not idx:
            continue
        if part == "conversation":
            rows.append(k)
            ctx_t.append("")
            whole = r.render_rows([rec.get("system")], [rec.get("messages")], [rec.get("tools")])[0]
            ans_t.append(whole if render == "chat" and whole is not None else _plain(t.messages))
            alone_t.append("")
            continue
        for i in idx if turns == "all" else idx[-1:]:
            if render == "chat":
                try:
                    before, own, header = _turn_texts(r, t, i)
                except Exception:  # a template that refuses this row's roles: no score (no_score)
                    continue
            else:
                before, own, header = _plain(t.messages[:i]) + "\n", t.messages[i]["content"], ""
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


def _plain(msgs: Sequence[dict[str, Any]]) -> str:
    """System prompt and turns joined by newlines: the untemplated prompt of Cherry/Superfiltering."""
    return "\n".join(m["content"] for m in msgs if m.get("content"))


def per_row(pairs: Pairs, n_rows: int, nll: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum pair NLLs and token counts into their rows (rows without pairs get 0 and 0)."""
    s = np.bincount(pairs.row, weights=nll, minlength=n_rows).astype(np.float64)
    t = np.bincount(pairs.row, weights=tokens, minlength=n_rows).astype(np.int64)
    return s, t
