"""LoRA SFT and continued pretraining on transformers + peft, fed by the curated mixture.

Cheap to import (no torch here): the runner and the CLI call ``run_training``, which imports the
trainer only when training actually starts. See docs/training.md for every option.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.errors import TrainError

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

    Everything is written under ``partial_dir(out_dir)`` and renamed to ``out_dir`` when training
    is done (``publish``): a killed training never leaves a half adapter, metrics or examples file
    where ``curate score --adapter``, ``export`` or ``eval`` would read it; ``resume`` continues
    from the killed run's checkpoints there. Under ``accelerate launch`` (several ranks) every rank
    trains in the same partial folder: the main rank prepares it before the others start and
    publishes it after the trainer's last barrier, so the others never see a half-made folder.
    """
    from curate.train.dist import Dist
    from curate.train.trainer import train

    out_dir = Path(out_dir)
    tmp = partial_dir(out_dir)
    dist = Dist.detect()  # one process unless started by `accelerate launch`
    with dist.main_first():  # the other ranks wait until the folder is ready
        if dist.main:
            _prepare(tmp, out_dir, resume=resume)
    try:
        summary = train(
            train_df,
            eval_df,
            cfg,
            tmp,
            model=model,
            tokenizer=tokenizer,
            manifest=manifest,
            resume=resume,
            progress=progress,
            dist=dist,
        )
    except TrainError:  # a refusal or the spike guard: the user needs the why where they look
        if dist.main:
            _keep_diagnostics(tmp, out_dir)
        raise
    if not dist.main:  # the trainer's last barrier has passed: the main rank publishes
        return summary
    summary = _moved(summary, str(tmp), str(out_dir))
    _repoint(tmp, out_dir)
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    publish(tmp, out_dir)
    return summary


def _prepare(tmp: Path, out_dir: Path, *, resume: bool) -> None:
    """The partial folder a training writes into: emptied of a killed run's leftovers, or for
    ``resume`` seeded from a finished run's checkpoints (``out_dir`` itself is left untouched)."""
    if not resume and tmp.exists():
        shutil.rmtree(tmp)  # a killed run's leftovers; --resume continues from them instead
    elif resume and not tmp.exists() and out_dir.exists():
        shutil.copytree(out_dir, tmp)


def _keep_diagnostics(tmp: Path, out_dir: Path) -> None:
    """Copy a failed training's logs (metrics, dropped rows) into ``out_dir``: no adapter or summary
    is published, so readers still see no finished training there."""
    for name in ("metrics.jsonl", "dropped.jsonl"):
        if (tmp / name).exists():
            out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(tmp / name, out_dir / name)


def partial_dir(out_dir: Path) -> Path:
    """Where training writes before its outputs count: ``.<name>.partial`` beside ``out_dir``."""
    return out_dir.parent / f".{out_dir.name}.partial"


def publish(tmp: Path, out_dir: Path) -> None:
    """``tmp`` becomes ``out_dir`` by renames only: the old folder moves aside (one rename), the new
    one takes its name (one rename), then the old one is deleted. A kill at any point leaves either
    the old complete folder, no folder, or the new complete one; never half an adapter."""
    aside = out_dir.parent / f".{out_dir.name}.old"
    if aside.exists():
        shutil.rmtree(aside)
    if out_dir.exists():
        os.replace(out_dir, aside)
    os.replace(tmp, out_dir)
    shutil.rmtree(aside, ignore_errors=True)


def _repoint(tmp: Path, out_dir: Path) -> None:
    """Paths to ``tmp`` inside the small text files training wrote (the adapter's
    ``curate_train.json`` copies the summary) point to ``out_dir`` instead."""
    old, new = json.dumps(str(tmp))[1:-1].encode(), json.dumps(str(out_dir))[1:-1].encode()
    for p in tmp.rglob("*"):
        if p.suffix in (".json", ".md", ".txt", ".yaml") and p.is_file() and p.stat().st_size < 1 << 24:
            b = p.read_bytes()
            if old in b:
                p.write_bytes(b.replace(old, new))


def _moved(v: Any, old: str, new: str) -> Any:
    """``v`` (a summary) with every path under ``old`` pointing under ``new`` instead."""
    if isinstance(v, str) and (v == old or v.startswith(old + os.sep)):
        return new + v[len(old) :]
    if isinstance(v, dict):
        return {k: _moved(x, old, new) for k, x in v.items()}
    if isinstance(v, list):
        return [_moved(x, old, new) for x in v]
    return v


__all__ = ["run_training"]
