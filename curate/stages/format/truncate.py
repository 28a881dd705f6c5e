"""``truncate.history``: make long conversations fit the context by dropping their oldest turns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.pipeline.registry import register
from curate.pipeline.stage import RowStage, Rule, StageConfig, StageResult
from curate.schema import MESSAGE
from curate.stages.mix.tokens import encode_lengths, render_chats, tokenizer_for

Msgs = list[dict[str, Any]]
MAX_ROUNDS = 4  # re-measure rounds; the estimate is off by a few tokens at most, so 2 is typical


class _Meter:
    """Measures conversations in the stage's unit: rendered tokens (chat template) or plain chars.

    Token mode never re-renders prefixes. A long conversation is estimated as its frame (system block,
    or the template's default one) plus, per message, its content tokens and its role's template
    tokens, each measured once per tokenizer with a probe; every kept row is then rendered and
    counted exactly once, and a row still over budget goes round again with exact numbers.
    """

    def __init__(self, tokenizer: Any | None) -> None:
        self.tok = tokenizer
        self.overhead: dict[str, int] = {}
        self.frame_sys = self.frame_plain = 0
        if tokenizer is not None:
            x = [{"role": "user", "content": "x"}]
            base = self.exact(self.render([None], [x]))[0] or 0
            n_x, n_s = self.lengths(["x", "s"])
            for role in ("user", "assistant", "tool_call", "tool"):
                got = self.exact(self.render([None], [[*x, {"role": role, "content": "x"}]]))[0]
                self.overhead[role] = max(0, got - base - n_x) if got is not None else -1
            fallback = max(self.overhead["assistant"], 0)
            self.overhead = {r: (v if v >= 0 else fallback) for r, v in self.overhead.items()}
            with_sys = self.exact(self.render(["s"], [x]))[0] or 0
            self.frame_plain = max(0, base - n_x - self.overhead["user"])
            self.frame_sys = max(0, with_sys - n_s - n_x - self.overhead["user"])

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return encode_lengths(texts, self.tok) if self.tok is not None else [len(t) for t in texts]

    def render(self, systems: Sequence[str | None], convs: Sequence[Msgs]) -> list[str | None]:
        """Template renders (token mode); ``None`` where the template refuses a conversation."""
        if self.tok is None:
            return [
                (s or "") + "".join(m["content"] or "" for m in c)
                for s, c in zip(systems, convs, strict=True)
            ]
        return render_chats(self.tok, systems, convs)

    def exact(self, rendered: Sequence[str | None]) -> list[int | None]:
        """Exact sizes of rendered conversations (one batched encode)."""
        ok = [r for r in rendered if r is not None]
        counts = iter(self.lengths(ok))
        return [next(counts) if r is not None else None for r in rendered]

    def bound(self, rendered: str) -> int:
        """A cheap size that is never below the exact one: UTF-8 bytes (a token covers >= 1 byte)."""
        return len(rendered) if self.tok is None else len(rendered.encode("utf-8")) + 4

    def frames(self, systems: Sequence[str | None]) -> list[int]:
        """Estimated size of each conversation's frame: system block and template scaffolding."""
        if self.tok is None:
            return [len(s or "") for s in systems]
        sized = iter(self.lengths([s for s in systems if s]))
        return [next(sized) + self.frame_sys if s else self.frame_plain for s in systems]

    def turn_costs(self, convs: Sequence[Msgs]) -> list[np.ndarray]:
        """Per-message size estimate (content + template tokens for its role), batched over rows."""
        flat = [m["content"] or "" for c in convs for m in c]
        sizes = iter(self.lengths(flat))
        return [
            np.array([next(sizes) + self.overhead.get(m["role"], 0) for m in c], dtype=np.int64)
            for c in convs
        ]

    def cut(self, texts: Sequence[str], units: Sequence[int], lefts: Sequence[bool]) -> list[str]:
        """Each text with about ``units`` removed from its start (left) or end, in one batch."""
        if self.tok is None:
            return [
                t[n:] if left else t[: max(len(t) - n, 0)]
                for t, n, left in zip(texts, units, lefts, strict=True)
            ]
        ids = self.tok(list(texts), add_special_tokens=False)["input_ids"]
        kept = [
            x[n:] if left else x[: max(len(x) - n, 0)] for x, n, left in zip(ids, units, lefts, strict=True)
        ]
        # a cut inside a multi-byte character decodes to U+FFFD: drop the broken piece
        return [t.strip("\ufffd") for t in self.tok.batch_decode(kept)]


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

    Cost: one batched encode of the messages of rows whose UTF-8 size exceeds the budget, then one
    exact render + encode of every kept row (see ``_Meter``); no prefix is re-rendered. Columns:
    ``score_turns_dropped``, ``score_tokens_dropped`` (or ``score_chars_dropped``; for tokens an
    estimate within a few tokens), ``score_truncate_size`` (before), ``score_tokens_rendered``
    (exact, after) and ``tag_truncate`` (none, history, user_cut, answer_cut). Stats are sums, so the
    stats of batches add up.
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
        n, kinds, systems = batch.height, batch["kind"].to_list(), batch["system"].to_list()
        before = batch["messages"].to_list()
        convs: list[Msgs] = [[dict(m) for m in (c or [])] for c in before]
        chat = [i for i in range(n) if kinds[i] != "text"]
        rendered: list[str | None] = [None] * n
        for i, r in zip(
            chat, meter.render([systems[i] for i in chat], [convs[i] for i in chat]), strict=True
        ):
            rendered[i] = r
        tag = ["none" if i not in chat or rendered[i] is not None else "template_error" for i in range(n)]
        dropped, original, size = [0] * n, [None] * n, [None] * n
        stale: set[int] = set()
        cuts: list[tuple[int, int, int, bool]] = []  # row, message, units to remove, from the left

        def apply_cuts() -> None:
            texts = [convs[i][j]["content"] or "" for i, j, _, _ in cuts]
            done = meter.cut(texts, [c[2] for c in cuts], [c[3] for c in cuts]) if cuts else []
            for (i, j, _, _), t in zip(cuts, done, strict=True):
                convs[i][j]["content"] = t
            cuts.clear()

        def shorten(i: int, costs: np.ndarray, fixed: int) -> None:
            new, gone, how = _plan(convs[i], costs, fixed, budget, self.cfg.on_long_last_turn, meter.overhead)
            dropped[i] += gone
            if new is None:
                tag[i] = "too_long"
                return
            for j, m in enumerate(new):
                if "over" in m:
                    cuts.append((i, j, m.pop("over"), m["role"] == "user"))
            convs[i], size[i] = new, None
            tag[i] = how if tag[i] in ("none", "history") else tag[i]
            stale.add(i)

        # round 1: estimate only rows whose cheap bound is over budget, from per-message counts
        long = [i for i in chat if rendered[i] is not None and meter.bound(rendered[i]) > budget]  # type: ignore[arg-type]
        costs = meter.turn_costs([convs[i] for i in long])
        for i, c, f in zip(long, costs, meter.frames([systems[i] for i in long]), strict=True):
            original[i] = int(f + c.sum())
            if original[i] > budget:
                shorten(i, c, f)
        apply_cuts()
        # then every kept row is rendered and counted exactly; rows still over go round again
        for round_ in range(MAX_ROUNDS + 1):
            redo = sorted(stale)
            for i, r in zip(
                redo, meter.render([systems[i] for i in redo], [convs[i] for i in redo]), strict=True
            ):
                rendered[i] = r
                tag[i] = tag[i] if r is not None else "template_error"
            stale.clear()
            live = [i for i in chat if tag[i] not in ("too_long", "template_error")]
            unknown = [i for i in live if size[i] is None]
            for i, c in zip(unknown, meter.exact([rendered[i] for i in unknown]), strict=True):
                size[i] = c
                original[i] = c if original[i] is None else original[i]
            over = [i for i in live if size[i] > budget]  # type: ignore[operator]
            if not over:
                break
            if round_ == MAX_ROUNDS:  # the estimate keeps missing: refuse rather than overflow
                for i in over:
                    tag[i] = "too_long"
                break
            for i, c in zip(over, meter.turn_costs([convs[i] for i in over]), strict=True):
                shorten(i, c, int(size[i] - c.sum()))  # type: ignore[operator]
            apply_cuts()
        return batch.with_columns(self._columns(before, convs, tag, dropped, original, size))

    def _columns(
        self, before: list, convs: list, tag: list, dropped: list, original: list, size: list
    ) -> list:
        kept = [t not in ("too_long", "template_error") for t in tag]
        lost = [
            o - s if k and o is not None and s is not None else 0
            for o, s, k in zip(original, size, kept, strict=True)
        ]
        cols = [
            pl.Series(
                "messages",
                [c if k else (b or []) for c, b, k in zip(convs, before, kept, strict=True)],
                dtype=pl.List(MESSAGE),
            ),
            pl.Series(
                "score_turns_dropped",
                [d if k else 0 for d, k in zip(dropped, kept, strict=True)],
                dtype=pl.Int64,
            ),
            pl.Series(f"score_{self._unit}_dropped", lost, dtype=pl.Int64),
            pl.Series("score_truncate_size", original, dtype=pl.Int64),
            pl.Series("tag_truncate", tag, dtype=pl.Utf8),
        ]
        if self.cfg.max_tokens is not None:
            rendered = [s if k else None for s, k in zip(size, kept, strict=True)]
            cols.append(pl.Series("score_tokens_rendered", rendered, dtype=pl.Int64))
        return cols

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
