"""Eval files: multiple-choice items with on-topic distractors, and an open-ended review set."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from curate.formats.evalset import build_mcq, write_eval_files


def test_mcq_items_are_well_formed(law: pl.DataFrame):
    items = build_mcq(law, n_choices=4, seed=1)
    assert len(items) > 100
    answers = {r["id"]: r["messages"][-1]["content"] for r in law.to_dicts()}
    pools: dict[str, set[str]] = {}
    for r in law.to_dicts():
        for key in (f"task={r['task']}", f"domain={r['domain']}"):
            pools.setdefault(key, set()).add(r["messages"][-1]["content"])
    for it in items:
        assert len(it["choices"]) == 4 and len(set(it["choices"])) == 4
        assert it["choices"][it["answer_index"]] == answers[it["id"]]
        assert set(it["choices"]) <= pools[it["distractors_from"]]  # same task, else same domain
        assert it["messages"][-1]["role"] == "user"
    assert sum(it["distractors_from"].startswith("task=") for it in items) > len(items) / 2
    positions = {it["answer_index"] for it in items}
    assert positions == {0, 1, 2, 3}  # shuffled, not always first
    assert build_mcq(law, n_choices=4, seed=1) == items


def test_write_eval_files(tmp_path: Path, mixed: pl.DataFrame):
    ev = mixed.sample(40, seed=0)
    paths = write_eval_files(ev, tmp_path, n_choices=3, pool=mixed)
    assert len(paths["eval"].read_text(encoding="utf-8").splitlines()) == 40
    opened = [json.loads(line) for line in paths["open_ended"].read_text(encoding="utf-8").splitlines()]
    ends_with_answer = ev.filter(pl.col("messages").list.last().struct.field("role") == "assistant").height
    assert len(opened) == ends_with_answer and all(o["reference"] for o in opened)
    html = paths["html"].read_text(encoding="utf-8")
    assert html.count('class="item"') == len(opened) and "<script>" in html
    assert "&lt;" not in opened[0]["reference"]  # JSON keeps raw text; only HTML escapes
    mcq = [json.loads(line) for line in paths["mcq"].read_text(encoding="utf-8").splitlines()]
    assert mcq and all(len(m["choices"]) == 3 for m in mcq)


def test_domain_wide_distractors_match_the_answers_length_and_form(law: pl.DataFrame):
    """Issue 11 item 11: with ``task`` unset, LawBench distractors came from 17 tasks at random, and
    97.8 % of items had a choice over 2x longer or shorter than the answer (up to 232x)."""
    from curate.formats.evalset import answer_form

    items = build_mcq(law.with_columns(task=pl.lit(None, pl.String)), n_choices=4, seed=1)
    assert len(items) >= 0.9 * law.height
    longest = 0
    for it in items:
        a = it["choices"][it["answer_index"]]
        for c in it["choices"]:
            assert 0.5 <= len(c) / len(a) <= 2.0 and len(c) / len(a) <= it["max_length_ratio"] + 1e-9
            assert answer_form(c) == answer_form(a)  # same script, line count and leading label
        longest += max(it["choices"], key=len) == a
    assert longest / len(items) < 0.5  # "pick the longest" is no longer a winning strategy
