"""mix.ratio on real data: achieved ratios match targets in rows and in tokens."""

from __future__ import annotations

import polars as pl
import pytest
from pydantic import ValidationError

from curate.errors import StageError
from curate.pipeline.stage import StageContext
from curate.stages.mix.ratio import MixRatio
from curate.stages.mix.report import stats_table


def _units(df: pl.DataFrame, domain: str, col: str | None) -> float:
    part = df.filter(pl.col("domain") == domain)
    return float(part.height if col is None else part[col].sum())


def test_anchored_ratio_in_rows(mixed: pl.DataFrame, ctx: StageContext):
    # 60 general rows anchored, legal sampled to 1.5x -> 90 of 136 legal rows
    res = MixRatio({"domain": "general", "general_per_domain": 1.5, "unit": "examples"}, ctx=ctx).apply(mixed)
    assert _units(res.kept, "general", None) == 60
    assert _units(res.kept, "legal", None) == 90
    assert res.n_removed == 46 and set(res.removed["reason"]) == {"mix_downsampled"}
    assert res.kept.height + res.n_removed == mixed.height + res.added
    assert res.stats["achieved_general_per_domain"] == 1.5 and not res.stats["warnings"]


def test_anchored_ratio_in_assistant_tokens(mixed: pl.DataFrame, ctx: StageContext):
    res = MixRatio({"domain": "legal", "general_per_domain": 0.5, "unit": "assistant_tokens"}, ctx=ctx).apply(
        mixed
    )
    legal = _units(res.kept, "legal", "score_tokens_assistant")
    general = _units(res.kept, "general", "score_tokens_assistant")
    kept_legal = res.kept.filter(pl.col("domain") == "legal")
    assert kept_legal.height == 136 and kept_legal["id"].n_unique() == 136  # the anchor is kept whole, once
    largest = res.kept.filter(pl.col("domain") == "general")["score_tokens_assistant"].max()
    assert abs(general - 0.5 * legal) <= largest / 2
    g = {d["group"]: d for d in res.stats["groups"]}
    assert g["general"]["share_assistant_tokens"] == pytest.approx(1 / 3, abs=largest / 2 / (1.5 * legal))


def test_short_general_is_used_whole_by_default_and_the_ratio_is_a_warning(
    mixed: pl.DataFrame, ctx: StageContext
):
    """Issue 11 item 5: the default used to repeat rows silently (max_copies_per_row 3)."""
    res = MixRatio({"domain": "legal", "general_per_domain": 5, "unit": "examples"}, ctx=ctx).apply(mixed)
    assert res.added == 0 and res.kept.height == mixed.height and res.kept["id"].n_unique() == mixed.height
    assert res.stats["achieved_general_per_domain"] == pytest.approx(60 / 136, abs=1e-3)
    assert any("instead of 1:5" in w for w in res.warnings) and res.stats["repeats"] == 0


def test_short_general_is_repeated_up_to_the_cap_when_asked_and_reported(
    mixed: pl.DataFrame, ctx: StageContext
):
    # general (60 rows) cannot reach 5 x 136 legal rows even with 3 copies each
    cfg = {"domain": "legal", "general_per_domain": 5, "unit": "examples", "max_copies_per_row": 3}
    res = MixRatio(cfg, ctx=ctx).apply(mixed)
    general = res.kept.filter(pl.col("domain") == "general")
    assert general.height == 180 and res.added == 120 and res.stats["repeats"] == 120
    assert general.group_by("id").len()["len"].max() == 3
    assert res.stats["achieved_general_per_domain"] == pytest.approx(180 / 136, abs=1e-3)
    assert any("instead of 1:5" in w for w in res.warnings)
    assert any(w.startswith("120 of 316 output rows") and "repeats" in w for w in res.warnings)


def test_shrink_anchor_restores_the_ratio(mixed: pl.DataFrame, ctx: StageContext):
    cfg = {"domain": "legal", "general_per_domain": 2, "unit": "examples", "on_short": "shrink_anchor"}
    res = MixRatio(cfg, ctx=ctx).apply(mixed)
    assert res.added == 0
    assert _units(res.kept, "general", None) == 60 and _units(res.kept, "legal", None) == 30


def test_weights_default_to_the_largest_mix_without_repeats(mixed: pl.DataFrame, ctx: StageContext):
    res = MixRatio(
        {"weights": {"legal": 1, "general": 1}, "unit": "examples", "report_tokens": False}, ctx=ctx
    ).apply(mixed)
    assert (
        _units(res.kept, "legal", None) == 60 and _units(res.kept, "general", None) == 60 and res.added == 0
    )
    assert "score_tokens_rendered" not in res.kept.columns  # no tokenizer asked for


def test_weights_by_source_remove_unlisted_groups(mixed: pl.DataFrame, ctx: StageContext):
    extra = mixed.head(10).with_columns(pl.lit("other").alias("source"))
    res = MixRatio({"by": "source", "weights": {"lawqa": 3, "chitchat": 1}, "unit": "chars"}, ctx=ctx).apply(
        pl.concat([mixed, extra])
    )
    assert (res.removed["reason"] == "mix_unlisted_group").sum() == 10
    g = {d["group"]: d for d in res.stats["groups"]}
    assert g["lawqa"]["share_chars"] == pytest.approx(0.75, abs=0.03)


def test_per_task_cap_runs_first(mixed: pl.DataFrame, ctx: StageContext):
    cfg = {"domain": "general", "general_per_domain": 10, "unit": "examples", "per_task_cap": 3}
    cfg["max_copies_per_row"] = 3
    res = MixRatio(cfg, ctx=ctx).apply(mixed)
    legal = res.kept.filter(pl.col("domain") == "legal")
    assert legal.unique("id").group_by("task").len()["len"].max() == 3  # then repeated, up to 3 copies
    assert (res.removed["reason"] == "task_cap").sum() == 17 * 5


def test_same_seed_same_mix(mixed: pl.DataFrame):
    cfg = {"domain": "general", "general_per_domain": 1, "unit": "examples", "report_tokens": False}
    a = MixRatio(cfg, ctx=StageContext(seed=1)).apply(mixed).kept["id"].to_list()
    b = MixRatio(cfg, ctx=StageContext(seed=1)).apply(mixed).kept["id"].to_list()
    c = MixRatio(cfg, ctx=StageContext(seed=2)).apply(mixed).kept["id"].to_list()
    assert a == b and a != c


def test_config_and_data_errors(mixed: pl.DataFrame, ctx: StageContext):
    with pytest.raises(ValidationError):
        MixRatio.Config(domain="legal")
    with pytest.raises(ValidationError):
        MixRatio.Config(domain="legal", general_per_domain=5, weights={"a": 1})
    with pytest.raises(StageError, match="medical"):
        MixRatio({"domain": "medical", "general_per_domain": 5, "unit": "examples"}, ctx=ctx).apply(mixed)
    with pytest.raises(StageError, match="genral"):
        MixRatio({"weights": {"genral": 1}, "unit": "examples"}, ctx=ctx).apply(mixed)


def test_report_table_renders(mixed: pl.DataFrame, ctx: StageContext):
    from rich.console import Console

    res = MixRatio({"domain": "general", "general_per_domain": 5, "unit": "tokens"}, ctx=ctx).apply(mixed)
    console = Console(width=250, record=True)
    console.print(stats_table(res.stats, title="mix.ratio"))
    text = console.export_text()
    assert "legal" in text and "share tokens" in text and "achieved_general_per_domain" in text
