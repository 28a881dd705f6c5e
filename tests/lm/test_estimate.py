"""The cost of model-backed stages, printed before any stage runs and kept in the manifest."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

import curate
from curate.formats import read_source
from curate.lm.estimate import run_estimates
from curate.recipe import load
from curate.stages.score.judge import Judge
from curate.stages.select.ifd import SelectIFD

DATA = Path(__file__).parents[1] / "data" / "alpaca.json"  # 6 real records (LawBench + chatterbot)


def test_estimate_is_logged_first_and_bounded_by_earlier_cuts(tiny_lm, tmp_path, monkeypatch, caplog):
    model, tok = tiny_lm
    where = tmp_path / "tiny"
    model.save_pretrained(where)
    tok.save_pretrained(where)
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    ifd = {"model": str(where), "max": None}
    recipe = {
        "name": "estimate-test",
        "sources": [{"name": "a", "path": str(DATA), "format": "alpaca", "license": "apache-2.0"}],
        "stages": [{"sample.random": {"n": 3}}, {"select.ifd": ifd},
                   {"score.judge": {"endpoint": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}}}],
        "output": {"format": "sharegpt"},
    }  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    r = load(path)
    table = read_source(r.sources[0], base_dir=r.base_dir).table
    full = SelectIFD.estimate_cost(SelectIFD.Config(**ifd), table, seed=r.seed)
    est = run_estimates([(s.name, curate.pipeline.registry.get(s.name), s.params) for s in r.stages], table)
    assert [e["stage"] for e in est] == ["select.ifd", "score.judge"]
    assert est[0]["rows"] == 3 and full["rows"] == 6
    assert est[0]["minutes"] == pytest.approx(full["minutes"] * 3 / 6, abs=0.051)
    assert est[0]["tokens"] == int(full["tokens"] * 3 / 6)
    assert est[1]["requests"] == 3 and est[1]["endpoint"] == "http://127.0.0.1:9/v1"
    # the run logs it after reading, before the first stage, and keeps it in the manifest
    recipe["stages"] = recipe["stages"][:2]
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    with caplog.at_level(logging.INFO):
        res = curate.run(path, out=tmp_path / "run", train=False)
    lines = [m for m in caplog.messages if m.startswith(("estimate:", "stage "))]
    assert lines[0].startswith("estimate: 02 select.ifd: <= 3 rows") and "min on this machine" in lines[0]
    assert res.manifest["estimates"][0]["rows"] == 3
    assert res.manifest["estimates"][0]["tokens"] == est[0]["tokens"]


def test_local_judge_estimate_counts_the_rubric(tmp_path):
    recipe = {"name": "j", "sources": [{"name": "a", "path": str(DATA), "format": "alpaca"}],
              "stages": [{"score.judge": {}}], "output": {"format": "sharegpt"}}  # fmt: skip
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    r = load(path)
    table = read_source(r.sources[0], base_dir=r.base_dir).table
    e = Judge.estimate_cost(Judge.Config(), table)
    assert e["rows"] == 6 and e["tokens"] > 6 * 60 and e["minutes"] >= 0  # the rubric is ~60 tokens
