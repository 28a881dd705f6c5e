"""``curate score RUN_DIR``: score a run's training rows with the model it just trained.

Which rows has the adapter still not learned? For every row of ``output/train.canonical.parquet``
this computes, under base + adapter (merged), the answer's mean NLL given the prompt (the loss
training minimised, on the same rendering and the same answer tokens) and its IFD (``select.ifd``'s
two passes), and writes them to ``RUN_DIR/scores/adapter.parquet`` (``id``, ``score_adapter_loss``,
``score_adapter_ifd``, ``score_adapter_tokens``). The highest remaining loss is what the adapter has
not learned; a recipe feeds the column back into selection with ``score.join`` (then ``select.top``).
Scores go through the score cache (the fingerprint hashes the merged weights), so a re-run is free.
Cost: ``select.ifd``'s, two forward passes per row (docs/selection.md).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import InputError

log = logging.getLogger(__name__)


def adapter_model(run_dir: Path, adapter: Path | None, model: str | None) -> tuple[str, Path]:
    """(base model name, adapter folder) from the arguments or the run's train/summary.json."""
    summary_p = run_dir / "train" / "summary.json"
    summary = json.loads(summary_p.read_text(encoding="utf-8")) if summary_p.exists() else {}
    adapter = adapter or (Path(summary["adapter_dir"]) if summary.get("adapter_dir") else None)
    if adapter is None or not (adapter / "adapter_config.json").exists():
        raise InputError(f"no LoRA adapter at {adapter or run_dir / 'train' / 'adapter'}",
                         hint="train the run first, or pass --adapter DIR")  # fmt: skip
    if model is None:
        model = summary.get("model") or json.loads((adapter / "adapter_config.json").read_text())[
            "base_model_name_or_path"
        ]
    return str(model), adapter


def score_run(
    run_dir: Path,
    *,
    adapter: Path | None = None,
    model: str | None = None,
    max_rows: int | None = None,
    caps: dict[str, Any] | None = None,
    preloaded: tuple[Any, Any] | None = None,
    cache_dir: Path | None = None,
    seed: int = 42,
) -> tuple[pl.DataFrame, Path]:
    """Scores of the run's training rows under its adapter, and the parquet file they went to.

    ``preloaded`` (model with the adapter merged, tokenizer) skips loading: tests pass a tiny model.
    """
    from curate.cache import cache_dir as default_cache
    from curate.models import ModelHub, load_causal_lm, load_tokenizer
    from curate.pipeline import registry
    from curate.pipeline.stage import StageContext

    run_dir = Path(run_dir)
    rows_p = run_dir / "output" / "train.canonical.parquet"
    if not rows_p.exists():
        raise InputError(f"{run_dir} has no output/train.canonical.parquet", hint="curate run RECIPE first")
    table = pl.read_parquet(rows_p)
    if max_rows is not None and table.height > max_rows:
        table = table.sample(max_rows, seed=seed).sort("id")
    if preloaded is None:
        from peft import PeftModel

        base, folder = adapter_model(run_dir, adapter, model)
        lm = PeftModel.from_pretrained(load_causal_lm(base), str(folder)).merge_and_unload().eval()
        own = (folder / "tokenizer_config.json").exists()  # the trainer saves the tokenizer it used
        tok = load_tokenizer(str(folder) if own else base)
        preloaded = (lm, tok)
    hub = ModelHub(preloaded={"adapter": preloaded})
    ctx = StageContext(seed=seed, models=hub, cache_dir=cache_dir or default_cache("scores"))
    stage = registry.get("select.ifd")({"model": "adapter", "max": None, **(caps or {})}, ctx=ctx)
    res = stage.apply(table)
    out = res.kept.select(
        "id",
        pl.col("score_ifd_nll").alias("score_adapter_loss"),
        pl.col("score_ifd").alias("score_adapter_ifd"),
        pl.col("score_ifd_tokens").alias("score_adapter_tokens"),
    )
    path = run_dir / "scores" / "adapter.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    out.write_parquet(path)
    (path.with_suffix(".json")).write_text(json.dumps(res.stats, indent=2, default=str), encoding="utf-8")
    return table.join(out, on="id", how="left"), path
