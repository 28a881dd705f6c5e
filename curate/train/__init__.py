"""LoRA SFT and continued pretraining on transformers + peft, fed by the curated mixture.

Cheap to import (no torch here): the runner and the CLI call ``run_training``, which imports the
trainer only when training actually starts. See docs/training.md for every option.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

    from curate.train.config import TrainConfig


def run_training(
    train_df: pl.DataFrame,
    eval_df: pl.DataFrame | None,
    cfg: TrainConfig,
    out_dir: Path,
    *,
    manifest: dict[str, Any] | None = None,
    resume: bool = False,
    model: Any = None,
    tokenizer: Any = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train on canonical rows and return the summary.

    The summary holds ``base_eval_loss``, ``final_eval_loss``, ``steps``, ``tokens_per_s``,
    ``adapter_dir`` (or ``model_dir`` for full/freeze/PLoRA), ``metrics_file`` and the dropped-row
    counts. ``eval_df=None`` holds out a seeded ``cfg.eval_fraction`` of ``train_df``. ``model`` and
    ``tokenizer`` may be injected (tests pass a tiny random model); otherwise ``cfg.model`` is loaded
    offline through curate.models.
    """
    from curate.train.trainer import train

    return train(
        train_df,
        eval_df,
        cfg,
        Path(out_dir),
        model=model,
        tokenizer=tokenizer,
        manifest=manifest,
        resume=resume,
        progress=progress,
    )


__all__ = ["run_training"]
