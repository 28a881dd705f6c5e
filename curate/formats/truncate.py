"""``truncate.history``: make long conversations fit the context by dropping their oldest turns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.mixing.tokens import encode_lengths, render_chats, tokenizer_for
from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule, StageConfig, StageResult
from curate.schema import MESSAGE

Msgs = list[dict[str, Any]]
MAX_ROUNDS = 4  # re-measure rounds; the estimate is off by a few tokens at most, so 2 is typical


class _Meter:
    """Measures conversations in the stage's unit: rendered tokens (chat template) or plain chars.

    Token mode renders and encodes in batches. To avoid re-rendering every prefix it estimates a
    shortened conversation as (whole render) - (dropped content tokens) - (per-turn template tokens,
    measured once per role with a probe) and then checks the choice with one exact render.
    """

    def __init__(self, tokenizer: Any | None) -> None:
        self.tok = tokenizer
        self.overhead: dict[str, int] = {}
        if tokenizer is not None:
            base = self.cost([None], [[{"role": "user", "content": "x"}]])[0] or 0
            for role in ("user", "assistant", "tool_call", "tool"):
                conv = [{"role": "user", "content": "x"}, {"role": role, "content": "y"}]
                got = self.cost([None], [conv])[0]
                self.overhead[role] = max(0, got - base - self.lengths(["y"])[0]) if got is not None else -1
            fallback = max(self.overhead["assistant"], 0)
            self.overhead = {r: (v if v >= 0 else fallback) for r, v in self.overhead.items()}

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return encode_lengths(texts, self.tok) if self.tok is not None else [len(t) for t in texts]

    def cost(self, systems: Sequence[str | None], convs: Sequence[Msgs]) -> list[int | None]:
        """Exact size of each conversation; None where the chat template refuses it."""
        if self.tok is None:
            return [
                len(s or "") + sum(len(m["content"] or "") for m in c)
                for s, c in zip(systems, convs, strict=True)
            ]
        rendered = render_chats(self.tok, systems, convs)
        ok = [r for r in rendered if r is not None]
        counts = iter(self.lengths(ok))
        return [next(counts) if r is not None else None for r in rendered]

    def turn_costs(self, convs: Sequence[Msgs]) -> list[np.ndarray]:
        """Per-message size estimate (content + template tokens for its role), batched over rows."""
        flat = [m["content"] or "" for c in convs for m in c]
        sizes = iter(self.lengths(flat))
        return [
            np.array([next(sizes) + self.overhead.get(m["role"], 0) for m in c], dtype=np.int64)
            for c in convs
        ]

    def cut(self, text: str, n: int, *, left: bool) -> str:
        """``text`` with about ``n`` units removed from its start (left) or end."""
        if n <= 0:
            return text
        if self.tok is None:
            return text[n:] if left else text[: max(len(text) - n, 0)]
        ids = self.tok(text, add_special_tokens=False)["input_ids"]
        kept = ids[n:] if left else ids[: max(len(ids) - n, 0)]
        return self.tok.decode(kept).strip("\ufffd") if kept else ""


def _plan(
    msgs: Msgs, costs: np.ndarray, fixed: int, budget: int, policy: str, overhead: dict[str, int]
) -> tuple[Msgs | None, int, str]:
    """(new messages or None to remove, messages dropped, tag) for one conversation over budget."""
    users = [j for j, m in enumerate(msgs) if m["role"] == "user"]
    suffix = np.concatenate([np.cumsum(costs[::-1])[::-1], [0]])
    for s in users:
        if s > 0 and fixed + suffix[s] <= budget:
            return msgs[s:], s, "history"
    start = users[-1] if users else 0
    new = [dict(m) for m in msgs[start:]]
    over = int(fixed + suffix[start] - budget)
    if policy == "truncate_user" and users:
        target = 0
    elif policy == "truncate_answer":
        answers = [j for j, m in enumerate(new) if m["role"] == "assistant"]
        if not answers:
            return None, start, "too_long"
        target = answers[-1]
    else:
        return None, start, "too_long"
    if over >= costs[start + target] - overhead.get(new[target]["role"], 0):
        return None, start, "too_long"  # nothing would be left of it
    new[target]["over"] = over
    return new, start, "user_cut" if target == 0 else "answer_cut"


@register("truncate.history")
class TruncateHistory(RowStage):
    """Drop the oldest whole exchanges of a chat until its rendered form fits the context.

    The system prompt stays; whole exchanges (a user turn and the turns that answer it) go from the
    front, so the kept history starts with a user turn and the final assistant turn is never cut. Size
    is ``max_tokens`` of the conversation rendered with the training model's chat template (what the
    trainer sees), or ``max_chars`` of system + turns without a model. When even the last exchange is
    too long, ``on_long_last_turn`` left-truncates its user message (the end of a question usually
    holds the ask), truncates the answer, or removes the row (reason ``last_turn_too_long``). Rows the
    template cannot render are removed with reason ``template_error``. Documents pass through.
    Columns: ``score_turns_dropped``, ``score_tokens_dropped`` (or ``score_chars_dropped``),
    ``score_tokens_rendered`` (token mode) and ``tag_truncate`` (none, history, user_cut, answer_cut).
    """

    class Config(StageConfig):
        max_tokens: int | None = Field(
            None, ge=8, description="fit the chat-template rendering into this many tokens"
        )
        max_chars: int | None = Field(
            None, ge=1, description="fit system + turns into this many characters (no model)"
        )
        on_long_last_turn: Literal["truncate_user", "truncate_answer", "remove"] = Field(
            "truncate_user",
            description="when the last exchange alone is too long: cut the user turn's start, "
            "cut the answer's end, or remove the row",
        )
        model: str | None = Field(
            None, description="tokenizer and chat template (default: the training model)"
        )

        @model_validator(mode="after")
        def _one(self) -> TruncateHistory.Config:
            if (self.max_tokens is None) == (self.max_chars is None):
                raise ValueError("give exactly one of max_tokens or max_chars")
            return self

    cfg: Config

    @property
    def _unit(self) -> str:
        return "tokens" if self.cfg.max_tokens is not None else "chars"

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        tokens = self.cfg.max_tokens is not None
        meter = _Meter(tokenizer_for(self.ctx, self.cfg.model) if tokens else None)
        budget = int(self.cfg.max_tokens or self.cfg.max_chars or 0)
        kinds, systems = batch["kind"].to_list(), batch["system"].to_list()
        convs: list[Msgs] = [[dict(m) for m in (c or [])] for c in batch["messages"].to_list()]
        n = batch.height
        chat = [i for i in range(n) if kinds[i] != "text"]
        size: list[int | None] = [None] * n
        for i, c in zip(chat, meter.cost([systems[i] for i in chat], [convs[i] for i in chat]), strict=True):
            size[i] = c
        original = list(size)
        tag = ["none"] * n
        dropped = [0] * n
        for i in chat:
            if size[i] is None:
                tag[i] = "template_error"
        todo = [i for i in chat if size[i] is not None and size[i] > budget]  # type: ignore[operator]
        for _ in range(MAX_ROUNDS):
            if not todo:
                break
            costs = meter.turn_costs([convs[i] for i in todo])
            for i, c in zip(todo, costs, strict=True):
                fixed = int(size[i] - c.sum())  # type: ignore[operator]  # system block + template frame
                new, gone, how = _plan(convs[i], c, fixed, budget, self.cfg.on_long_last_turn, meter.overhead)
                dropped[i] += gone
                if new is None:
                    tag[i] = "too_long"
                    continue
                for m in new:
                    if "over" in m:
                        m["content"] = meter.cut(m["content"] or "", m.pop("over"), left=m["role"] == "user")
                convs[i] = new
                tag[i] = how if tag[i] in ("none", "history") else tag[i]
            live = [i for i in todo if tag[i] != "too_long"]
            for i, c in zip(
                live, meter.cost([systems[i] for i in live], [convs[i] for i in live]), strict=True
            ):
                size[i] = c
                if c is None:
                    tag[i] = "template_error"
            todo = [i for i in live if size[i] is not None and size[i] > budget]  # type: ignore[operator]
        for i in todo:
            tag[i] = "too_long"  # still over after MAX_ROUNDS re-measures: refuse rather than overflow
        keep_new = [tag[i] not in ("too_long", "template_error") for i in range(n)]
        before = batch["messages"].to_list()
        msgs_out = [convs[i] if keep_new[i] else (before[i] or []) for i in range(n)]
        lost = [
            (original[i] - size[i]) if keep_new[i] and original[i] is not None and size[i] is not None else 0
            for i in range(n)
        ]
        cols = [
            pl.Series("messages", msgs_out, dtype=pl.List(MESSAGE)),
            pl.Series(
                "score_turns_dropped",
                [d if k else 0 for d, k in zip(dropped, keep_new, strict=True)],
                dtype=pl.Int64,
            ),
            pl.Series(f"score_{self._unit}_dropped", lost, dtype=pl.Int64),
            pl.Series("score_truncate_size", original, dtype=pl.Int64),
            pl.Series("tag_truncate", tag, dtype=pl.Utf8),
        ]
        if tokens:
            cols.append(
                pl.Series(
                    "score_tokens_rendered",
                    [s if k else None for s, k in zip(size, keep_new, strict=True)],
                    dtype=pl.Int64,
                )
            )
        return batch.with_columns(cols)

    def rules(self) -> list[Rule]:
        t, budget = pl.col("tag_truncate"), self.cfg.max_tokens or self.cfg.max_chars
        return [
            Rule("last_turn_too_long", t == "too_long", pl.col("score_truncate_size"), budget),
            Rule("template_error", t == "template_error"),
        ]

    def apply(self, df: pl.DataFrame) -> StageResult:
        res = super().apply(df)
        kept, unit = res.kept, self._unit
        counts = dict(kept["tag_truncate"].value_counts().iter_rows()) if kept.height else {}
        reasons = dict(res.removed["reason"].value_counts().iter_rows()) if res.n_removed else {}  # type: ignore[union-attr]
        res.stats = {
            "unit": unit,
            "budget": self.cfg.max_tokens or self.cfg.max_chars,
            "rows_in": df.height,
            "rows_truncated": int(kept.height - counts.get("none", 0)),
            "rows_history_dropped": int((kept["score_turns_dropped"] > 0).sum()) if kept.height else 0,
            "rows_user_cut": int(counts.get("user_cut", 0)),
            "rows_answer_cut": int(counts.get("answer_cut", 0)),
            "rows_removed_too_long": int(reasons.get("last_turn_too_long", 0)),
            "rows_removed_template_error": int(reasons.get("template_error", 0)),
            "turns_dropped": int(kept["score_turns_dropped"].sum()) if kept.height else 0,
            f"{unit}_dropped": int(kept[f"score_{unit}_dropped"].sum()) if kept.height else 0,
        }
        return res
