"""Cherry LLM's "pre-experienced" model: a brief LoRA on a small diverse sample, then score with it.

Li et al. 2023 ("From Quantity to Quality") compute IFD not with the raw base model but with one
that has seen a little of the data (their "brief pre-experience" on a cluster-balanced sample),
so the scores measure difficulty for a model that already knows the task format. ``select.ifd:
{scorer: pre_experienced}`` asks the model hub for such a model; the application answers with
``PreExperience.adapter`` (stages never import ``train/``, the layout rule), which trains through
curate's own trainer.

Saved under ``<run>/pre_experience/<key>/``: ``sample.parquet`` (the ids trained on, with their
group), the trainer's ``adapter/``, ``metrics.jsonl`` and ``summary.json``. ``key`` hashes the
sample's ids, the options, the model and the seed, so a re-run (or another stage asking for the
same thing) loads the adapter instead of training again.
Cost: ``steps x batch_size`` examples of LoRA training (SmolLM2-135M on 2 cores: ~1-2 s a step at
512 tokens x 8), plus one adapter load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import xxhash

log = logging.getLogger(__name__)


@dataclass
class PreExperience:
    """Trains (or reuses) brief adapters under ``root``; ``base`` builds a fresh base model."""

    root: Path
    base: Callable[[str], Any] | None = None  # model name -> a fresh model (default: load_causal_lm)

    def adapter(
        self, model: str, sample: pl.DataFrame, opts: dict[str, Any], *, seed: int, tokenizer: Any = None
    ) -> tuple[Any, Any, dict[str, Any]]:
        """(base + trained adapter merged, tokenizer, info) for ``sample`` under ``opts``."""
        from curate.models import load_causal_lm, load_tokenizer
        from curate.train import run_training
        from curate.train.config import TrainConfig

        fresh = self.base or load_causal_lm
        tok = tokenizer if tokenizer is not None else load_tokenizer(model)
        h = xxhash.xxh3_64()
        h.update(json.dumps({"model": model, "seed": seed, **opts}, sort_keys=True).encode())
        for rid in sorted(sample["id"].to_list()):
            h.update(rid.encode())
        out = self.root / h.hexdigest()
        cfg = TrainConfig(
            model=model, seed=seed, max_steps=opts["steps"], lr=opts["lr"], rank=opts["rank"],
            alpha=2 * opts["rank"], max_len=opts["max_len"], batch_size=opts["batch_size"],
            eval_fraction=0.05, eval_max_rows=16, sample_count=0, save_steps=None, tensorboard=False,
        )  # fmt: skip
        summary_p = out / "summary.json"
        reused = summary_p.exists()
        if reused:
            summary = json.loads(summary_p.read_text(encoding="utf-8"))
            log.info("pre-experience: reusing the adapter in %s", out)
        else:
            log.info("pre-experience: training %d steps on %d rows -> %s", opts["steps"], sample.height, out)
            summary = run_training(sample, None, cfg, out, model=fresh(model), tokenizer=tok, progress=False)
            cols = [c for c in ("id", "cluster", "task") if c in sample.columns]  # after: training
            sample.select(cols).write_parquet(out / "sample.parquet")  # publishes ``out`` by rename
            summary_p.write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        from peft import PeftModel

        trained = PeftModel.from_pretrained(fresh(model), str(summary["adapter_dir"])).merge_and_unload()
        info = {
            "dir": str(out),
            "reused": reused,
            "rows": sample.height,
            "steps": summary.get("steps"),
            "base_eval_loss": summary.get("base_eval_loss"),
            "final_eval_loss": summary.get("final_eval_loss"),
        }
        return trained.eval(), tok, info
