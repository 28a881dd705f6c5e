"""Fast checks of the report's pieces on small real-shaped inputs (no run, no browser)."""

from __future__ import annotations

from types import SimpleNamespace

import polars as pl
import pytest

from curate.report import figures
from curate.report.notebook import preview_threshold, suggest_threshold
from curate.report.sections import collect_warnings


def _manifest(**extra) -> dict:
    stages = [
        {"index": 0, "name": "read", "rows_in": 100, "kept": 100, "removed": 0, "reasons": {}, "stats": {}},
        {
            "index": 1,
            "name": "filter.length",
            "rows_in": 100,
            "kept": 50,
            "removed": 50,
            "reasons": {"too_short": 50},
            "stats": {},
        },
        {
            "index": 2,
            "name": "mix.ratio",
            "rows_in": 50,
            "kept": 60,
            "removed": 0,
            "added": 10,
            "reasons": {},
            "stats": {
                "unit": "examples",
                "groups": [
                    {
                        "group": "law",
                        "units_target": 40,
                        "units_out": 30,
                        "met": False,
                        "repeats": 10,
                        "max_copies_used": 2,
                    }
                ],
            },
        },
    ]
    licenses = [
        {
            "source": "web",
            "license": "cc-by-nc-4.0",
            "category": "non-commercial",
            "commercial": False,
            "share": 0.2,
        }
    ]
    return {"stages": stages, "warnings": [], "rejects": 3, "output": {"licenses": licenses}, **extra}


def test_warnings_name_every_problem():
    ev = {"mcq": {"held_out": {"items": 40, "base_accuracy": 0.4, "adapter_accuracy": 0.3, "chance": 0.25}}}
    ws = collect_warnings(SimpleNamespace(manifest=_manifest(eval=ev)))
    text = "\n".join(ws)
    assert "damaged input: 3 records" in text
    assert "filter.length removed 50% of its input (too_short 50)" in text
    assert "target for law not met (30 of 40 examples)" in text
    assert "10 repeated rows in law" in text
    assert "license: web is cc-by-nc-4.0" in text
    assert "adapter accuracy on held_out fell below" in text


def test_stage_warnings_are_not_repeated():
    m = _manifest(warnings=["mix.ratio: law short"])
    m["stages"][2]["stats"]["warnings"] = ["law short"]
    ws = collect_warnings(SimpleNamespace(manifest=m))
    assert sum("law short" in w for w in ws) == 1


def test_threshold_found_from_removed_values():
    removed = pl.DataFrame(
        {
            "reason": ["too_short", "too_short", "too_long"],
            "value": [1.0, 3.0, 9000.0],
            "score_chars": [1, 3, 9000],
            "score_other": [5, 5, 5],
            "threshold": ["8", "8", "8000"],
        }
    )
    thr = figures.thresholds(removed, "score_chars")
    assert sorted((t["reason"], t["threshold"], t["side"]) for t in thr) == [
        ("too_long", 8000.0, "above"),
        ("too_short", 8.0, "below"),
    ]
    assert figures.thresholds(removed, "score_other") == []  # value is not this column


def test_histogram_size_does_not_grow_with_rows():
    big = pl.DataFrame({"x": pl.int_range(0, 200_000, eager=True) % 997, "removed": False})
    fig = figures.score_hist(big, "x", [])
    assert len(fig.data[0].x) <= figures.BINS + 1


def test_suggest_and_preview_threshold():
    df = pl.DataFrame({"id": [str(i) for i in range(100)], "score_x": list(range(100))})
    cut = suggest_threshold(df, "score_x", keep=0.9)
    p = preview_threshold(df, "score_x", cut)
    assert (p.kept, p.removed) == (90, 10) and p.rows["score_x"].to_list() == list(range(10))
    top = preview_threshold(df, "score_x", suggest_threshold(df, "score_x", keep=0.8, side="max"), side="max")
    assert top.removed == 20 and top.rows["score_x"][0] == 99
    with pytest.raises(ValueError):
        suggest_threshold(df, "score_x", keep=0)


def test_funnel_marks_side_outputs_and_repeats():
    fig = figures.funnel(
        _manifest()["stages"]
        + [
            {
                "index": 3,
                "name": "split",
                "rows_in": 60,
                "kept": 54,
                "removed": 0,
                "side": {"eval": 6},
                "reasons": {},
            }
        ]
    )
    traces = {t.name: list(t.x)[::-1] for t in fig.data}
    assert traces["added (repeats)"] == [0, 0, 10, 0] and traces["side output"] == [0, 0, 0, 6]
    assert traces["kept"] == [100, 50, 50, 54]


def test_a_damaged_file_costs_one_section(tmp_path):
    """A run whose metrics file is garbage and whose output is missing still gets its report."""
    import json
    import shutil
    from pathlib import Path

    from curate.pipeline.rundir import RunDir
    from curate.report.html import render

    data = Path(__file__).resolve().parents[1] / "data" / "prh.jsonl"
    run = tmp_path / "run"
    (run / "stages" / "00-read").mkdir(parents=True)
    pl.DataFrame({"id": ["a"], "origin": [f"{data}:1"], "kind": ["chat"]}).write_parquet(
        run / "stages" / "00-read" / "kept-00000.parquet"
    )
    stage = {"index": 0, "name": "read", "rows_in": 1, "kept": 1, "removed": 0, "reasons": {}, "seconds": 0.1}
    m = {
        "name": "t",
        "versions": {},
        "seed": 1,
        "stages": [stage],
        "sources": [],
        "timings": {},
        "output": {"rows": 1},
        "train": {"steps": 1},
    }
    (run / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    (run / "train").mkdir()
    shutil.copy(data, run / "train" / "metrics.jsonl")  # not metrics at all
    page = render(RunDir(run).root)
    assert 'id="funnel"' in page and "could not be drawn" in page  # the output-reading sections say why
