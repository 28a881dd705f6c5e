"""A recipe scores and selects with a model named by path, through the runner and the score cache."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import yaml

import curate

DATA = Path(__file__).parents[2] / "data" / "alpaca.json"  # 6 real records (LawBench + chatterbot)


def test_recipe_scores_selects_and_reuses_cache(tiny_lm, tmp_path, monkeypatch):
    model, tok = tiny_lm
    where = tmp_path / "tiny"
    model.save_pretrained(where)
    tok.save_pretrained(where)
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    recipe = {
        "name": "select-test",
        "sources": [{"name": "a", "path": str(DATA), "format": "alpaca", "license": "apache-2.0"}],
        "stages": [
            {"score.perplexity": {"model": str(where)}},
            {"select.ifd": {"model": str(where), "max": None, "top_fraction": 0.5}},
            {"select.top": {"score": "score_ppl", "top_n": 2}},
        ],
        "output": {"format": "sharegpt"},
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    first = curate.run(path, out=tmp_path / "run", train=False)
    by = {s["name"]: s for s in first.stages}
    assert by["select.ifd"]["kept"] == 3 and by["select.top"]["kept"] == 2
    removed = first.removed()
    ifd = removed.filter(pl.col("stage") == "select.ifd")
    assert ifd["reason"].to_list() == ["not_top"] * 3
    assert ifd["value"].is_not_null().all() and ifd["threshold"].is_not_null().all()
    assert by["select.ifd"]["stats"]["passes_cached"] == 6  # the conditioned passes perplexity ran
    # a forced re-run recomputes every stage, but the scores come from the cache
    again = curate.run(path, out=tmp_path / "run", train=False, force=True)
    stats = {s["name"]: s["stats"] for s in again.stages}
    assert stats["score.perplexity"]["passes_computed"] == 0
    assert stats["select.ifd"]["passes_computed"] == 0
    assert again.output.height == 2
