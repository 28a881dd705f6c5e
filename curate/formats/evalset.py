"""Eval files from the held-out split: multiple-choice items for likelihood scoring, and an
open-ended set (JSONL + one static HTML page) for people to rate.

A multiple-choice item is the conversation up to its final assistant turn, the true final answer
and ``n_choices - 1`` distractors: final answers of other rows from the same cluster, else the same
task, else the same domain, of the same form and similar length, so they are on-topic and plausible
but wrong, and neither length nor form points at the answer. Score an item by the mean
log-probability of each choice's tokens after the rendered prompt; the argmax should be
``answer_index``. No model is needed to build them.
"""

from __future__ import annotations

import html
import json
import logging
import re
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


_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
# A short leading label such as "答案:", "[法条]" or "Answer:": answers of one task share it, so a
# distractor without it (or with another task's) gives the answer away.
_TAG = re.compile(r"^\s*(\[[^\]\n]{1,8}\]|[^\s:：]{1,8}[:：])")
LENGTH_RATIOS: tuple[float, ...] = (1.25, 1.5, 2.0)


def answer_form(text: str) -> str:
    """The surface form of an answer: main script, one line or several, and its leading label.

    >>> answer_form("答案:为了规范农民专业合作社的组织和行为"), answer_form("Sure! Here is how")
    ('han|1|答案:', 'latin|1|')
    """
    t = text.strip()
    han, latin = len(_HAN.findall(t)), len(_LATIN.findall(t))
    script = "han" if han and han >= latin / 3 else "latin" if latin else "other"
    m = _TAG.match(t)
    return f"{script}|{1 if chr(10) not in t else 2}|{m.group(1) if m else ''}"


class _Pool:
    """A group's distinct answers with their lengths and forms, as arrays for fast matching."""

    def __init__(self) -> None:
        self.text: dict[str, str] = {}  # normalized -> answer

    def add(self, answer: str) -> None:
        self.text.setdefault(normalize(answer), answer)

    def freeze(self) -> None:
        self.norms = list(self.text)
        self.answers = [self.text[n] for n in self.norms]
        self.lengths = np.array([len(a.strip()) for a in self.answers], dtype=np.float64).clip(1)
        self.forms = np.array([answer_form(a) for a in self.answers], dtype=object)
        self.index = {t: i for i, t in enumerate(self.norms)}

    def similar(self, answer: str, correct: str, need: int) -> tuple[list[int], float] | None:
        """Indices of answers of the same form whose length is within the smallest ratio that yields
        ``need`` of them, and that ratio; None when even the widest ratio yields too few."""
        n = max(len(answer.strip()), 1)
        ok = self.forms == answer_form(answer)
        if correct in self.index:
            ok[self.index[correct]] = False
        ratio = np.maximum(self.lengths / n, n / self.lengths)
        for r in LENGTH_RATIOS:
            idx = np.flatnonzero(ok & (ratio <= r))
            if len(idx) >= need:
                return idx.tolist(), r
        return None


def build_mcq(
    eval_df: pl.DataFrame,
    *,
    n_choices: int = 4,
    seed: int = 42,
    pool: pl.DataFrame | None = None,
    group_keys: Sequence[str] = GROUP_KEYS,
) -> list[dict[str, Any]]:
    """Multiple-choice items from ``eval_df`` rows; distractors from ``eval_df`` (+ ``pool``, e.g. train).

    Distractors are other rows' final answers from the narrowest group (cluster, else task, else
    domain) that holds ``n_choices - 1`` answers of the same form (``answer_form``: script, line count,
    leading label) and similar length (within 1.25x, else 1.5x, else 2x of the true answer's characters).
    Without that, a domain-wide pool lets length and form give the answer away: on LawBench with
    ``task`` unset, random distractors differ from the answer by more than 2x in length on most items.
    Rows with no such group are skipped (logged). Choice order is shuffled, seeded by seed and row id.
    """
    keys = [k for k in group_keys if k in eval_df.columns]
    source = eval_df if pool is None else pl.concat([eval_df, pool], how="diagonal_relaxed")
    pools: dict[str, _Pool] = defaultdict(_Pool)
    for row in source.select("kind", "messages", *keys).iter_rows(named=True):
        qa = _qa(row)
        if qa:
            for g in _groups(row, keys):
                pools[g].add(qa[1])
    for p in pools.values():
        p.freeze()
    items, skipped = [], 0
    for row in eval_df.iter_rows(named=True):
        qa = _qa(row)
        if qa is None:
            continue
        prompt, answer = qa
        rng = np.random.default_rng([seed, xxhash.xxh32_intdigest(str(row["id"]).encode())])
        for g in _groups(row, keys):
            found = pools[g].similar(answer, normalize(answer), n_choices - 1)
            if found:
                break
        else:
            skipped += 1
            continue
        idx, ratio = found
        picks = [pools[g].answers[idx[i]] for i in rng.choice(len(idx), size=n_choices - 1, replace=False)]
        choices = [answer, *picks]
        order = rng.permutation(n_choices)
        items.append(
            {
                "id": row["id"],
                "set": "held_out",
                "source": row.get("source"),
                "origin": row.get("origin"),
                "domain": row.get("domain"),
                "task": row.get("task"),
                "system": row.get("system"),
                "messages": prompt,
                "choices": [choices[i] for i in order],
                "answer_index": int(np.flatnonzero(order == 0)[0]),
                "distractors_from": g,
                "max_length_ratio": ratio,
            }
        )
    if skipped:
        log.info(
            "build_mcq: %d rows had too few answers of similar length and form in their group for %d choices",
            skipped,
            n_choices,
        )
    return items


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>
body{{font-family:sans-serif;max-width:70em;margin:auto}} .item{{border-top:1px solid #ccc;padding:.6em 0}}
.turn{{white-space:pre-wrap;margin:.2em 0}} .role{{font-weight:bold;color:#555}} .ref{{background:#f4f8f4}}
.model{{background:#f4f4fb}}
.meta{{color:#888;font-size:.85em}}</style></head><body><h1>{title}</h1>
<p>{count} prompts. Judge each model answer against the reference and pick a rating; then
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
    answer = rec.get("model_answer")
    shown = (
        f'<div class="turn model"><span class="role">model answer:</span> {html.escape(answer)}</div>'
        if answer is not None
        else '<div class="turn meta">no model answer yet: run <code>curate eval RUN_DIR</code></div>'
    )
    opts = "".join(f"<option>{v}</option>" for v in ("", "1", "2", "3", "4", "5"))
    return (
        f'<div class="item"><div class="meta">#{n} · {html.escape(str(rec["domain"]))} · '
        f"{html.escape(str(rec['task'] or ''))} · {html.escape(str(rec['origin']))}</div>{turns}"
        f'<div class="turn ref"><span class="role">reference:</span> {html.escape(rec["reference"])}</div>'
        f'{shown}<label>rating <select name="{html.escape(rec["id"])}">{opts}</select></label></div>'
    )


# Optional text fields written "" rather than null: `datasets` types a JSONL column from its first
# chunk and cannot cast a later string into a null column (see formats/write.py).
_BLANK_IF_NULL = ("system", "task", "text", "tools")
def write_open_ended_html(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """The review page: each prompt, its reference and (after ``curate eval``) the model's answer."""
    page = _PAGE.format(
        title="curate eval: open-ended review",
        count=len(records),
        items="".join(_item_html(i + 1, r) for i, r in enumerate(records)),
    )
    path.write_text(page, encoding="utf-8")
    return path


def _write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            r = {k: "" if v is None and k in _BLANK_IF_NULL else v for k, v in r.items()}
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
    write_open_ended_html(open_ended, out / "open_ended.html")
    return {
        "eval": _write_jsonl(out / "eval.jsonl", rows),
        "mcq": _write_jsonl(out / "mcq.jsonl", build_mcq(eval_df, n_choices=n_choices, seed=seed, pool=pool)),
        "open_ended": _write_jsonl(out / "open_ended.jsonl", open_ended),
        "html": out / "open_ended.html",
    }
