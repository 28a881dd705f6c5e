"""mix.temperature: q_i ∝ n_i^(1/T) reached in the chosen unit, small groups repeated within the cap."""

from __future__ import annotations

import polars as pl
import pytest

from curate.pipeline.stage import StageContext
from curate.stages.mix.temperature import MixTemperature, temperature_shares


def test_shares_formula():
    assert temperature_shares({"a": 900, "b": 100}, 1.0) == pytest.approx({"a": 0.9, "b": 0.1})
    assert temperature_shares({"a": 900, "b": 100}, 1e9) == pytest.approx({"a": 0.5, "b": 0.5}, abs=1e-6)


def test_square_root_sampling_in_rows(mixed: pl.DataFrame, ctx: StageContext):
    res = MixTemperature(
        {"by": "source", "temperature": 2, "unit": "examples", "report_tokens": False}, ctx=ctx
    ).apply(mixed)
    want = temperature_shares({"lawqa": 136, "chitchat": 60}, 2)
    counts = dict(res.kept.group_by("source").len().iter_rows())
    assert res.kept.height == mixed.height  # total size kept
    assert counts["chitchat"] == round(want["chitchat"] * 196)
    assert (
        counts["chitchat"] > 60 and res.added == counts["chitchat"] - 60
    )  # the small source grew by repeats
    assert res.n_removed == 136 - counts["lawqa"]


def test_temperature_in_tokens_reports_unmet_cap(mixed: pl.DataFrame, ctx: StageContext):
    cfg = {"by": "domain", "temperature": 50, "unit": "tokens", "max_copies_per_row": 1}
    res = MixTemperature(cfg, ctx=ctx).apply(mixed)
    groups = {g["group"]: g for g in res.stats["groups"]}
    small = min(groups, key=lambda g: groups[g]["units_in"])
    assert groups[small]["met"] is False and res.stats["warnings"] and res.added == 0
    big = max(groups, key=lambda g: groups[g]["units_in"])
    biggest_row = res.kept.filter(pl.col("domain") == big)["score_tokens_rendered"].max()
    assert abs(groups[big]["units_out"] - groups[big]["units_target"]) <= biggest_row / 2
