"""IFD and perplexity computed the plain way, independently of ``curate.lm.pairs``: the chat template
applied by hand, one row at a time, full logits (``reference_nll``)."""

from __future__ import annotations

import math
from typing import Any

from tests.lm.reference import reference_nll

HEADER = "<|im_start|>assistant\n"  # SmolLM2's generation header, written out


def reference_scores(model: Any, tok: Any, row: dict, *, max_answer: int = 256, max_total: int = 1024):
    """(IFD loss ratio, mean NLL given the prompt, mean NLL alone) for the row's last assistant turn."""
    msgs = ([{"role": "system", "content": row["system"]}] if row.get("system") else []) + [
        {"role": m["role"], "content": m["content"]} for m in row["messages"]
    ]
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    msgs = msgs[: last + 1]  # the last assistant turn, its history as context
    before = tok.apply_chat_template(msgs[:-1], add_generation_prompt=True, tokenize=False)
    through = tok.apply_chat_template(msgs, tokenize=False)
    ids_b = tok(before, add_special_tokens=False)["input_ids"]
    ids_t = tok(through, add_special_tokens=False)["input_ids"]
    assert ids_t[: len(ids_b)] == ids_b
    ans = ids_t[len(ids_b) :][:max_answer]
    ctx = ids_b[max(0, len(ids_b) - (max_total - len(ans))) :]
    own = through[len(before) :]
    h = tok(HEADER, add_special_tokens=False)["input_ids"]
    alone = tok(HEADER + own, add_special_tokens=False)["input_ids"][len(h) :][:max_answer]
    nc, tc = reference_nll(model, ctx, ans)
    na, ta = reference_nll(model, h, alone)
    return (nc / tc) / (na / ta), nc / tc, na / ta


def reference_ppl(model: Any, tok: Any, row: dict, **kw: Any) -> float:
    return math.exp(reference_scores(model, tok, row, **kw)[1])
