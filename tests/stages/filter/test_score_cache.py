"""Scores are cached apart from thresholds, for every ``filter.*`` stage (issue 12).

Two checks per stage, on real rows (LawBench consultations and chatterbot dialogues, Chinese and
English, as chats and as documents; pydoc topics as English documents):

* ``transform`` ignores the declared ``thresholds``: two configs that differ only in them score
  the same, and splitting the first one's scores by the second one's rules equals the second
  stage run fresh. This is what makes the cache correct.
* through the runner: changing only thresholds re-splits the cached scores without calling
  ``transform`` again, and the result equals a fresh run.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from curate.pipeline import registry
from curate.pipeline.executors.local import LocalExecutor
from curate.pipeline.rundir import RunDir
from curate.pipeline.runner import run_stages
from curate.pipeline.stage import RowStage, StageContext, caches_scores
from curate.schema import chat_row, frame, text_row
from curate.stages.filter import STAGES as FILTER
from tests.helpers import chatterbot_dialogues

DATA = Path(__file__).parents[3] / "recipes" / "data"

BLOCKED = {"phrases": ["法律", "the"]}
LOL = {"extra_placeholders": ["lol"]}
# name -> (config, the same config with only thresholds changed). The changes are picked to move
# rows on the data below where a threshold can (checked in test_threshold_changes_move_rows).
CASES: dict[str, tuple[dict, dict]] = {
    "filter.length": ({"min_chars": 12}, {"min_chars": 40, "max_chars": 300}),
    "filter.words": ({"min_words": 3}, {"min_words": 20, "max_words": 200}),
    "filter.lines": ({"min_lines": 1}, {"min_lines": 2, "max_longest_line_chars": 200}),
    "filter.turns": ({"min_turns": 2}, {"min_turns": 3, "max_user_turns": 1}),
    "filter.ratios": ({"max_digit_ratio": 0.3}, {"min_alnum_ratio": 0.8, "max_special_ratio": 0.05}),
    "filter.repetition": ({}, {"max_char_rep_ratio": 0.1, "max_dup_line_frac": 0.0}),
    "filter.stopwords": ({}, {"min_stopword_ratio": 0.2}),
    "filter.flagged_words": (
        {"extra_words": ["法律", "question"]},
        {"extra_words": ["法律", "question"], "max_flagged_ratio": None, "max_flagged_words": 0},
    ),
    "filter.language": ({"languages": ["zh"]}, {"languages": ["en"], "min_language_score": 0.5}),
    "filter.gopher_quality": ({}, {"min_words": 5, "min_stop_words": 0, "min_alpha_words_frac": None}),
    "filter.gopher_repetition": (
        {},
        {"max_dup_line_frac": 0.0, "max_top_ngram_char_frac": {2: 0.05, 3: 0.05, 4: 0.05}},
    ),
    "filter.c4": ({}, {"min_sentences": 1, "remove_curly_bracket": False, "drop_lines": False}),
    "filter.fineweb": ({}, {"min_line_punct_ratio": None, "max_short_line_ratio": 0.9}),
    "filter.refusal": ({}, {"max_refusal_phrases": None}),
    "filter.blocklist": (BLOCKED, {**BLOCKED, "max_blocked_phrases": 3}),
    "filter.empty_turns": ({}, {"max_empty_turns": None, "remove_no_turns": False}),
    "filter.echo": ({"field": "last_assistant"}, {"field": "last_assistant", "max_echo_turns": None}),
    "filter.placeholder": (LOL, {**LOL, "max_placeholder_turns": 1}),
    "filter.mid_sentence": ({}, {"max_mid_sentence_turns": None}),
    "filter.special_tokens": ({"extra": ["法律"]}, {"extra": ["法律"], "max_count": 3}),
}
# Stages whose threshold change moves no row here (nothing in the data is removed by them).
INERT = {"filter.echo", "filter.refusal"}


def _rows() -> pl.DataFrame:
    rows = []
    law = (DATA / "lawbench_consult.jsonl").read_text(encoding="utf-8").splitlines()[:12]
    for rec in map(json.loads, law):
        rows.append(chat_row([("user", rec["query"]), ("assistant", rec["response"])], system=rec["system"]))
        rows.append(text_row(rec["response"]))
    for _, _, turns in list(chatterbot_dialogues(files_per_lang=2))[:40]:
        pairs = [("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(turns)]
        rows.append(chat_row(pairs))
        rows.append(text_row("\n".join(turns)))
    for conv in json.loads((DATA / "chitchat.sharegpt.json").read_text(encoding="utf-8"))[:30]:
        roles = {"human": "user", "gpt": "assistant"}
        rows.append(chat_row([(roles[t["from"]], t["value"]) for t in conv["conversations"]]))
    from pydoc_data.topics import topics

    rows += [text_row(topics[k]) for k in sorted(topics)[:12]]
    rows.append(chat_row([("user", "你好"), ("assistant", " ")]))
    return frame(rows)


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    return _rows()


def test_every_filter_stage_caches_its_scores() -> None:
    assert set(CASES) == set(FILTER)
    for name in FILTER:
        stage = registry.get(name)(CASES[name][0])
        assert caches_scores(stage), f"{name} declares no thresholds or overrides apply()"
        assert stage.thresholds <= set(stage.Config.model_fields), f"{name}: a threshold is not a field"
        changed = set(CASES[name][1]) ^ set(CASES[name][0]) | {
            k for k in CASES[name][0] if CASES[name][0][k] != CASES[name][1].get(k)
        }
        assert changed <= stage.thresholds, f"{name}: the test changes more than thresholds"


@pytest.mark.parametrize("name", sorted(CASES))
def test_scores_ignore_thresholds(name: str, rows: pl.DataFrame) -> None:
    a, b = (registry.get(name)(cfg, ctx=StageContext(workers=1)) for cfg in CASES[name])
    assert isinstance(a, RowStage)
    scored = a.transform(rows)
    assert scored.equals(b.transform(rows)), f"{name}: a threshold changed the scores"
    fresh, re_split = b.apply(rows), b.split(scored)
    assert re_split.kept.equals(fresh.kept)
    assert re_split.removed is not None and fresh.removed is not None
    assert re_split.removed.equals(fresh.removed)


@pytest.mark.parametrize("name", sorted(set(CASES) - INERT))
def test_threshold_changes_move_rows(name: str, rows: pl.DataFrame) -> None:
    """Guards the cases above against testing nothing: the changed thresholds remove other rows."""
    a, b = (registry.get(name)(cfg, ctx=StageContext(workers=1)) for cfg in CASES[name])
    ra, rb = a.apply(rows), b.apply(rows)
    assert ra.removed is not None and rb.removed is not None
    assert sorted(ra.removed["id"]) != sorted(rb.removed["id"]) or not ra.kept.equals(rb.kept)


def _run(name: str, cfg: dict, table: pl.DataFrame, root: Path) -> tuple[pl.DataFrame, dict]:
    cls = registry.get(name)
    spec = SimpleNamespace(name=name, config=cls.Config(**cfg))
    records: list = []
    kept, _ = run_stages(
        [spec],
        table,
        "fp0",
        rd=RunDir(root).create(),
        ctx=StageContext(seed=1, workers=1),
        executor=LocalExecutor(batch_rows=37),  # several batches: the cache holds the whole table
        seed=1,
        records=records,
    )
    return kept, records[0].stats


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_threshold_change_does_not_score_again(
    name: str, rows: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls = registry.get(name)
    calls: list[int] = []
    score = cls.transform
    monkeypatch.setattr(cls, "transform", lambda s, b: (calls.append(b.height), score(s, b))[1])
    first, base = CASES[name]
    _run(name, first, rows, tmp_path / "run")
    assert calls
    calls.clear()
    again, stats = _run(name, base, rows, tmp_path / "run")
    assert calls == [] and stats == {"scores_reused": True}
    fresh, _ = _run(name, base, rows, tmp_path / "fresh")
    assert calls  # a new run dir scores again
    assert again.equals(fresh)
    cached = pl.read_parquet(next((tmp_path / "run").rglob(f"*{name}*.parquet")))
    assert cached.height == rows.height
    assert {"text", "messages", "id"}.isdisjoint(cached.columns), f"{name}: the cache copies the rows"
    assert cached.columns and all(c.startswith("score_") or c not in rows.columns for c in cached.columns)
