"""Issue 11 item 12: the final eval loss is written to metrics.jsonl and the report draws an eval line."""

from __future__ import annotations

import json
import re

from curate.report.html import _curve, _loss_points
from curate.train import run_training
from curate.train.config import TrainConfig


def test_final_eval_loss_reaches_metrics_and_the_report_curve(
    tmp_path, small_df, make_model, tokenizer, tok_cache
):
    out = tmp_path / "run"
    cfg = TrainConfig(
        max_len=128,
        batch_size=4,
        max_steps=3,
        lr=5e-3,
        threads=1,
        sample_count=0,
        cache_dir=str(tok_cache),
        save_steps=None,
        tensorboard=False,
        eval_max_rows=8,
    )
    s = run_training(small_df, None, cfg, out, model=make_model(), tokenizer=tokenizer)
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [(r["step"], r["eval_loss"]) for r in recs if "eval_loss" in r]
    assert evals[0][0] == 0 and round(evals[0][1], 6) == s["base_eval_loss"]
    assert evals[-1][0] == s["steps"] == 3
    assert round(evals[-1][1], 6) == s["final_eval_loss"]
    pts = _loss_points(out)
    assert [x for x, _ in pts["eval_loss"]] == [0, 3]  # base and final: a line, not a lone point
    svg = _curve(pts)
    lines = re.findall(r'<polyline[^>]*points="([^"]*)"', svg)
    assert sorted(len(p.split()) for p in lines) == [2, 3]  # eval (2 points) and train loss (3 steps)
    assert "eval_loss" in svg
