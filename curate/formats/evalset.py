"""Eval files from the held-out split: multiple-choice items for likelihood scoring, and an
open-ended set (JSONL + one static HTML page) for people to rate.

A multiple-choice item is the conversation up to its final assistant turn, the true final answer
and ``n_choices - 1`` distractors: final answers of other rows from the same cluster, else the same
task, else the same domain, so they are on-topic and plausible but wrong. Score an item by the mean
log-probability of each choice's tokens after the rendered prompt; the argmax should be
``answer_index``. No model is needed to build them.
"""

from __future__ import annotations

import html
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import xxhash

from curate.schema import normalize

log = logging.getLogger(__name__)
GROUP_KEYS: tuple[str, ...] = ("cluster", "task", "domain")


def _qa(row: dict[str, Any]) -> tuple[list[dict[str, str]], str] | None:
    """(prompt turns, final answer) of a chat row that ends with an assistant turn, else None."""
    msgs = row.get("messages") or []
    if (
        row.get("kind") == "text"
        or not msgs
        or msgs[-1]["role"] != "assistant"
        or not (msgs[-1]["content"] or "").strip()
    ):
        return None
    return [dict(m) for m in msgs[:-1]], msgs[-1]["content"]


def _groups(row: dict[str, Any], keys: Sequence[str]) -> list[str]:
    return [f"{k}={row[k]}" for k in keys if row.get(k) is not None]


def build_mcq(
    eval_df: pl.DataFrame,
    *,
    n_choices: int = 4,
    seed: int = 42,
    pool: pl.DataFrame | None = None,
    group_keys: Sequence[str] = GROUP_KEYS,
) -> list[dict[str, Any]]:
    """Multiple-choice items from ``eval_df`` rows; distractors from ``eval_df`` (+ ``pool``, e.g. train).

    A row gets an item only when its narrowest group holding enough distinct other answers exists;
    the rest are skipped (logged). Choice order is shuffled per item, seeded by seed and row id.
    """
    keys = [k for k in group_keys if k in eval_df.columns]
    source = eval_df if pool is None else pl.concat([eval_df, pool], how="diagonal_relaxed")
    answers: dict[str, dict[str, str]] = defaultdict(dict)  # group -> normalized answer -> answer
    for row in source.select("kind", "messages", *keys).iter_rows(named=True):
        qa = _qa(row)
        if qa:
            for g in _groups(row, keys):
                answers[g].setdefault(normalize(qa[1]), qa[1])
    items, skipped = [], 0
    for row in eval_df.iter_rows(named=True):
        qa = _qa(row)
        if qa is None:
            continue
        prompt, answer = qa
        correct = normalize(answer)
        rng = np.random.default_rng([seed, xxhash.xxh32_intdigest(str(row["id"]).encode())])
        for g in _groups(row, keys):
            others = [a for n, a in answers[g].items() if n != correct]
            if len(others) >= n_choices - 1:
                break
        else:
            skipped += 1
            continue
        picks = [others[i] for i in rng.choice(len(others), size=n_choices - 1, replace=False)]
        choices = [answer, *picks]
        order = rng.permutation(n_choices)
        items.append(
            {
                "id": row["id"],
                "source": row.get("source"),
                "origin": row.get("origin"),
                "domain": row.get("domain"),
                "task": row.get("task"),
                "system": row.get("system"),
                "messages": prompt,
                "choices": [choices[i] for i in order],
                "answer_index": int(np.flatnonzero(order == 0)[0]),
                "distractors_from": g,
            }
        )
    if skipped:
        log.info(
            "build_mcq: %d rows had too few distinct answers in their group for %d choices",
            skipped,
            n_choices,
        )
    return items


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body{{font-family:sans-serif;max-width:70em;margin:auto}} .item{{border-top:1px solid #ccc;padding:.6em 0}}
.turn{{white-space:pre-wrap;margin:.2em 0}} .role{{font-weight:bold;color:#555}} .ref{{background:#f4f8f4}}
.meta{{color:#888;font-size:.85em}}</style></head><body><h1>{title}</h1>
<p>{count} prompts. Judge each answer against the reference and pick a rating; then
<button onclick="save()">download ratings (JSON)</button>.</p>{items}
<script>function save(){{const r={{}};document.querySelectorAll('select').forEach(s=>r[s.name]=s.value);
const a=document.createElement('a');a.href=URL.createObjectURL(new Blob([JSON.stringify(r,null,1)],
{{type:'application/json'}}));a.download='ratings.json';a.click();}}</script></body></html>
"""


def _item_html(n: int, rec: dict[str, Any]) -> str:
    turns = "".join(
        f'<div class="turn"><span class="role">{html.escape(m["role"])}:</span> '
        f"{html.escape(m['content'] or '')}</div>"
        for m in ([{"role": "system", "content": rec["system"]}] if rec["system"] else []) + rec["messages"]
    )
    opts = "".join(f"<option>{v}</option>" for v in ("", "1", "2", "3", "4", "5"))
    return (
        f'<div class="item"><div class="meta">#{n} · {html.escape(str(rec["domain"]))} · '
        f"{html.escape(str(rec['task'] or ''))} · {html.escape(str(rec['origin']))}</div>{turns}"
        f'<div class="turn ref"><span class="role">reference:</span> {html.escape(rec["reference"])}</div>'
        f'<label>rating <select name="{html.escape(rec["id"])}">{opts}</select></label></div>'
    )


def _write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    return path


def write_eval_files(
    eval_df: pl.DataFrame,
    out_dir: str | Path,
    *,
    n_choices: int = 4,
    seed: int = 42,
    pool: pl.DataFrame | None = None,
) -> dict[str, Path]:
    """Write ``eval.jsonl`` (the split), ``mcq.jsonl``, ``open_ended.jsonl`` and ``open_ended.html``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = [
        c
        for c in ("id", "source", "origin", "kind", "domain", "task", "system", "messages", "text")
        if c in eval_df.columns
    ]
    rows = eval_df.select(base).to_dicts()
    open_ended = []
    for row in rows:
        qa = _qa(row)
        if qa:
            keep = {k: row.get(k) for k in ("id", "source", "origin", "domain", "task", "system")}
            open_ended.append(
                {**keep, "messages": qa[0], "reference": qa[1], "model_answer": None, "rating": None}
            )
    page = _PAGE.format(
        title="curate eval: open-ended review",
        count=len(open_ended),
        items="".join(_item_html(i + 1, r) for i, r in enumerate(open_ended)),
    )
    (out / "open_ended.html").write_text(page, encoding="utf-8")
    return {
        "eval": _write_jsonl(out / "eval.jsonl", rows),
        "mcq": _write_jsonl(out / "mcq.jsonl", build_mcq(eval_df, n_choices=n_choices, seed=seed, pool=pool)),
        "open_ended": _write_jsonl(out / "open_ended.jsonl", open_ended),
        "html": out / "open_ended.html",
    }
