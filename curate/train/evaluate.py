"""Held-out loss, sample answers, and the ``--preview`` rendering of what is trained."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from curate.chat.encode import spans
from curate.train.batching import collate, micro_batches
from curate.train.data import ChatEncoder, Encoded
from curate.train.loss import batch_loss, causal_parts


def split_eval(
    df: pl.DataFrame, *, fraction: float, max_rows: int, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Seeded held-out rows; rows sharing an id with an eval row leave training too (no leak)."""
    n = min(max_rows, round(df.height * fraction)) if fraction > 0 and df.height >= 2 else 0
    if n == 0 and fraction > 0 and df.height >= 2:
        n = 1
    if n == 0:
        return df, None
    idx = df.with_row_index("__i").sample(n=n, seed=seed)["__i"]
    eval_df = df.with_row_index("__i").filter(pl.col("__i").is_in(idx.implode())).drop("__i")
    train_df = df.filter(~pl.col("id").is_in(eval_df["id"].implode()))
    return train_df, eval_df


@torch.no_grad()
def eval_loss(
    model: Any,
    ds: Any,
    *,
    rt: Any,
    micro_batch_tokens: int,
    packing: bool,
    varlen: bool,
    pad_id: int,
    prompt_learning: bool = False,
    virtual_tokens: int = 0,
    indices: Any = None,
) -> float | None:
    """Mean cross-entropy per trained token over the examples of ``ds`` (all, or ``indices``);
    None when there are none."""
    if ds is None:  # no eval rows (an empty eval frame): nothing to measure
        return None
    idx = np.arange(len(ds)) if indices is None else np.asarray(indices, dtype=np.int64)
    if len(idx) == 0:
        return None
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for mb in micro_batches(idx, ds.lengths, micro_batch_tokens=micro_batch_tokens, packing=packing):
        b = collate(ds, mb, packing=packing, pad_id=pad_id, varlen=varlen).to(rt.device)
        # no autograd graph: eval was costing as much as a training step per token
        with torch.no_grad(), rt.autocast():
            total += float(
                batch_loss(model, b, prompt_learning=prompt_learning, virtual_tokens=virtual_tokens)
            )
        count += b.n_targets
    model.train(was_training)
    return total / max(count, 1)


@contextlib.contextmanager
def attention(model: Any, name: str) -> Iterator[None]:
    """Temporarily switch the attention implementation (generation uses plain sdpa)."""
    causal, _, _ = causal_parts(model)
    before = causal.config._attn_implementation
    if before != name:
        causal.set_attn_implementation(name)
    try:
        yield
    finally:
        if before != name:
            causal.set_attn_implementation(before)


@torch.no_grad()
def samples(
    model: Any,
    tokenizer: Any,
    rows: pl.DataFrame,
    *,
    count: int,
    max_new_tokens: int,
    device: Any,
    path: Path,
) -> Path | None:
    """Greedy answers to the first ``count`` held-out chat prompts, next to the metrics."""
    chat = rows.filter(pl.col("kind") == "chat").head(count * 4) if rows is not None and count else None
    if chat is None or chat.height == 0:
        return None
    enc = ChatEncoder(tokenizer, max_len=10**9)
    model.eval()
    out = []
    with attention(model, "sdpa"):
        for row in chat.iter_rows(named=True):
            t = enc.turns(row)
            if not t.trained or len(out) >= count:
                continue
            last = t.trained[-1]
            prompt = enc.render(t.messages[:last], t.tools, prompt=True)
            ids = torch.tensor([enc.ids([prompt])[0]], device=device)  # literal specials stay text
            gen = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
            answer = tokenizer.decode(gen[0, ids.shape[1] :], skip_special_tokens=True)
            msgs = row["messages"]  # the original text: t.messages may hold shield sentinels
            users = [m["content"] for m in msgs if m["role"] == "user"]
            answers = [m["content"] for m in msgs if m["role"] in ("assistant", "tool_call")]
            out.append(
                {
                    "id": row["id"],
                    "prompt": users[-1] if users else "",
                    "reference": answers[-1] if answers else "",
                    "generated": answer,
                }
            )
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), encoding="utf-8")
    return path


def preview(
    rows: pl.DataFrame,
    tokenizer: Any,
    *,
    max_len: int,
    last_turn_only: bool,
    index: int = 0,
    markers: bool = False,
) -> Any:
    """A rich ``Text`` of one rendered chat row; trained tokens are bold green on a dark background.

    ``markers`` also wraps each trained span in ``⟦ ⟧``, for output that is not a terminal (colour is
    lost there). Raises the same TrainError training would when the template breaks the prefix property.
    """
    from rich.text import Text

    chat = rows.filter(pl.col("kind") == "chat")
    enc = ChatEncoder(tokenizer, max_len=max_len, last_turn_only=last_turn_only)
    text = Text()
    for row in chat.slice(index).iter_rows(named=True):
        e = enc.encode(row)
        if not isinstance(e, Encoded):
            continue
        # Decode whole spans of equal mask, never one token at a time: a CJK character is often split
        # over two byte-level tokens, and decoding each alone prints U+FFFD for both halves.
        for m, span in spans(e.ids, e.mask):
            piece = tokenizer.decode(span)
            if markers and m:
                piece = f"⟦{piece}⟧"
            text.append(piece, style="bold green on grey15" if m else "dim")
        n = sum(e.mask[1:])
        text.append(
            f"\n\n{n} of {len(e.ids)} tokens trained (row {row['id']}"
            f"{f', {e.dropped_exchanges} oldest exchanges dropped to fit' if e.dropped_exchanges else ''})"
        )
        found = enc.shield.count([row.get("system"), *[m["content"] for m in row.get("messages") or []]])
        if found:
            text.append(
                f"\nwarning: this row contains {found} literal special token(s) of the tokenizer; they are "
                "encoded as plain text, not control tokens. filter.special_tokens removes such rows.",
                style="bold yellow",
            )
        return text
    text.append("no chat row yields a trainable example; see the dropped-row reasons")
    return text


