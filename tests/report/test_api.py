"""The notebook API on the quickstart run: open, removed, scores, near-duplicates, thresholds, stats."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import curate

pytestmark = pytest.mark.slow  # the shared quickstart run


def test_run_tables(quickstart_run: Path):
    run = curate.open(quickstart_run)
    assert [s.name for s in run.stages][:2] == ["read", "clean.normalize"]
    assert run.stage("filter.length").score_columns == ("score_chars",)
    sc = run.scores("filter.length")
    assert sc.height == run.stage("filter.length").record["rows_in"]
    assert sc.filter(pl.col("removed"))["reason"].to_list() == ["too_short"] * sc["removed"].sum()
    assert run.removed("filter.length", reason="too_short").height == sc["removed"].sum()
    assert run.output().height == run.manifest["output"]["rows"]


def test_near_duplicates_are_texts(quickstart_run: Path):
    d = curate.open(quickstart_run).near_duplicates()
    assert d.height == 12  # 7 exact + 5 near on the shipped sample
    assert d["removed_text"].str.starts_with("Q: ").all() and d["kept_text"].null_count() == 0
    assert d["kept_in_output"].dtype == pl.Boolean
    run = curate.open(quickstart_run)
    assert run.n_near_duplicates() == d.height
    first = run.near_duplicates(9)  # spans both dedup stages: 7 exact, then 2 of the near ones
    assert first.equals(d.head(9))


def test_threshold_what_if(quickstart_run: Path):
    sc = curate.open(quickstart_run).scores("filter.length").filter(~pl.col("removed"))
    v = curate.suggest_threshold(sc, "score_chars", keep=0.9)
    p = curate.preview_threshold(sc, "score_chars", v)
    assert 0.05 <= p.share_removed <= 0.1  # ties at the cut keep a few more rows
    assert p.rows["score_chars"].max() < v and p.kept + p.removed == sc.height
    assert "removes" in repr(p) and "<table" in p._repr_html_()
    hi = curate.preview_threshold(sc, "score_chars", 300, side="max")
    assert hi.rows["score_chars"].min() > 300


def test_stats_frames(quickstart_run: Path):
    s = curate.stats(quickstart_run)
    assert s["rows"] == s.lengths.filter(pl.col("field") == "user")["n"][0]
    assert set(s.counts["by"]) >= {"sources", "domains"}
    assert s.funnel.height == 12 and "<table" in s._repr_html_()


def test_plots_are_figures(quickstart_run: Path):
    run = curate.open(quickstart_run)
    for fig in (run.plot_funnel(), run.plot_scores("filter.length"), run.plot_lengths(), run.plot_mix()):
        assert fig is not None and len(fig.data) >= 1
    assert run.plot_loss() is None  # --no-train
    assert list(run.plot_tags("tag_truncate").data[0].x) == ["none", "user_cut"]
    clusters = run.plot_clusters("source")  # any label column: here the three sources
    assert clusters is not None and {t.name for t in clusters.data} == {"law_qa", "chitchat", "chatterbot"}
    shapes = run.plot_scores("filter.length").layout.shapes
    assert any(s.type == "line" and s.x0 == 2 for s in shapes)  # min_chars drawn
