"""The packaged SmolLM2-135M-Instruct on real chat rows: a few LoRA steps beat the base model on
held-out rows, and the merged model matches base+adapter."""

from __future__ import annotations

import json

import pytest

from curate.train import run_training
from curate.train.config import TrainConfig


@pytest.mark.slow
def test_smollm2_lora_lowers_held_out_loss_and_merges(tmp_path, chitchat_df, tok_cache):
    cfg = TrainConfig(
        max_steps=6,
        batch_size=4,
        max_len=256,
        lr=1e-3,
        eval_max_rows=8,
        sample_count=1,
        sample_max_new_tokens=12,
        save_steps=None,
        tensorboard=False,
        merge=True,
        cache_dir=str(tok_cache),
    )
    s = run_training(chitchat_df, None, cfg, tmp_path / "run", progress=False)
    print(json.dumps({k: s[k] for k in ("base_eval_loss", "final_eval_loss", "tokens_per_s", "peak_rss_mb")}))
    assert s["final_eval_loss"] < s["base_eval_loss"] - 0.05, s
    assert s["merge"]["max_logit_diff"] <= 1e-3
    assert s["peak_rss_mb"] < 4000  # 512-token micro-batches keep a 135M LoRA small
    sample = json.loads((tmp_path / "run" / "samples.jsonl").read_text().splitlines()[0])
    assert sample["generated"].strip()
