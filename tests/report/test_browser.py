"""The report opens in headless Chromium with no console errors, and every chart is drawn."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import polars as pl
import pytest

from curate.pipeline.rundir import RunDir
from curate.report.html import write_report
from tests.report.chromium import chromium_path, open_page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        chromium_path() is None, reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
]


def _png_colors(png: bytes) -> int:
    """Distinct byte values in a PNG's decompressed pixel rows: a blank image has < 8 (filtered
    scanlines of one colour are runs of one value plus the filter byte); a chart has hundreds."""
    pos, idat = 8, b""
    while pos < len(png):
        n, kind = struct.unpack(">I4s", png[pos : pos + 8])
        if kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + n]
        pos += 12 + n
    return len(set(zlib.decompress(idat)))


def _check(report: Path) -> list[str]:
    page = open_page(report)
    assert page.console_errors == []
    assert page.charts >= 1
    # plotly drew each chart: its SVG holds axes, bars or lines (an empty plot has < 10 nodes)
    assert all(n >= 10 for n in page.drawn), page.drawn
    assert all(_png_colors(shot) > 16 for shot in page.chart_shots)
    assert _png_colors(page.screenshot) > 16
    return page.sections


def test_blank_page_counts_as_blank(tmp_path: Path):
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><body style='background:#fff'></body>", encoding="utf-8")
    assert _png_colors(open_page(blank).screenshot) <= 8


def test_quickstart_report_renders(quickstart_run: Path):
    sections = _check(quickstart_run / "report.html")
    assert sections[:2] == ["warnings", "funnel"]
    assert {"scores", "duplicates", "lengths", "mix", "sources", "details"} <= set(sections)
    assert "training" not in sections  # --no-train: no section without data


def test_training_and_eval_sections_render(quickstart_run: Path, tmp_path: Path):
    """Trainer metrics, ``curate eval`` results and cluster columns (their on-disk shapes) are drawn."""
    run = tmp_path / "run"
    shutil.copytree(quickstart_run, run)
    (run / "train").mkdir()
    lines = [{"step": 0, "eval_loss": 2.43}]
    lines += [
        {"step": s, "loss": 3.3 - 0.2 * s, "lr": 1e-3 * (1 - s / 10), "tokens": 400, "tokens_per_s": 24.0}
        for s in range(1, 9)
    ]
    lines += [{"step": 8, "eval_loss": 2.1}]
    (run / "train" / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    m = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    m["train"] = {"steps": 8, "base_eval_loss": 2.43, "final_eval_loss": 2.1}
    m["eval"] = {
        "mcq": {"held_out": {"items": 40, "base_accuracy": 0.3, "adapter_accuracy": 0.35, "chance": 0.25}},
        "eval_loss_by_domain": {"law": {"examples": 6, "base": 2.6, "adapter": 2.2}},
        "seconds": 12.5,
    }
    (run / "manifest.json").write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")
    # a clustering stage's columns (tag.clusters writes cluster + tag_cluster): here the source's task
    out = run / "output" / "train.canonical.parquet"
    df = pl.read_parquet(out)
    codes = {t: i for i, t in enumerate(sorted(set(df["task"].to_list())))}
    df.with_columns(cluster=pl.col("task").replace_strict(codes), tag_cluster=pl.col("task")).write_parquet(
        out
    )
    sample = {"id": "x", "prompt": "你好", "reference": "你好！", "generated": "你好，有什么可以帮你？"}
    (run / "train" / "samples.jsonl").write_text(json.dumps(sample, ensure_ascii=False), encoding="utf-8")
    opened = run / "eval" / "open_ended.jsonl"  # curate eval fills model_answer into the held-out rows
    recs = [json.loads(x) for x in opened.read_text(encoding="utf-8").splitlines()]
    recs[0]["model_answer"] = "回答：可以。"
    opened.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs), encoding="utf-8")
    report = write_report(RunDir(run))
    sections = _check(report)
    assert {"training", "eval", "tags"} <= set(sections)
    html = report.read_text(encoding="utf-8")
    assert "coloured by tag_cluster" in html and "tag_cluster: top 3 labels" in html
    assert "你好，有什么可以帮你？" in html and "回答：可以。" in html
