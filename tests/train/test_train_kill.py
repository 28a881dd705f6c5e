"""A killed training leaves no half ``train/``: outputs are written aside and renamed into place.

The trainer runs in a subprocess on the tiny random model (SmolLM2's tokenizer, 2 layers of 64)
and is SIGKILLed mid-training, after it wrote metrics, plan files and a checkpoint. Before this,
those went straight into ``train/``, beside (or over) a previous run's adapter, where ``curate
score --adapter``, ``export`` and ``eval`` would read them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from curate.train import partial_dir, run_training
from curate.train.config import TrainConfig
from tests.pipeline.test_crash_safety import ENV, _kill_when

DRIVER = """
import sys
from pathlib import Path
from curate.models import load_tokenizer
from curate.train import run_training
from curate.train.config import TrainConfig
from tests.train.conftest import _rows, tiny_model
from curate.schema import frame
tok = load_tokenizer("smollm2-135m")
cfg = TrainConfig(**{**__import__("json").loads(sys.argv[2]), "max_steps": 10_000})
rows = frame(_rows("chitchat")).head(48)
run_training(rows, None, cfg, Path(sys.argv[1]), model=tiny_model(tok), tokenizer=tok)
"""


def _cfg(tok_cache: Path) -> dict:
    return {
        "max_len": 128,
        "batch_size": 4,
        "max_steps": 3,
        "lr": 5e-3,
        "threads": 1,
        "sample_count": 1,
        "sample_max_new_tokens": 4,
        "cache_dir": str(tok_cache),
        "save_steps": 2,
        "tensorboard": False,
        "eval_max_rows": 8,
    }


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow  # ~30 s: two short trainings on the tiny model and one killed subprocess
def test_killed_training_leaves_the_previous_train_dir_whole_and_a_rerun_completes(
    tmp_path: Path, tok_cache: Path, small_df, make_model, tokenizer
) -> None:
    out = tmp_path / "run" / "train"
    cfg = _cfg(tok_cache)
    first = run_training(small_df, None, TrainConfig(**cfg), out, model=make_model(), tokenizer=tokenizer)
    assert first["adapter_dir"] == str(out / "adapter") and not partial_dir(out).exists()
    before = _snapshot(out)
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(out), json.dumps(cfg)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tmp = partial_dir(out)
    assert _kill_when(proc, lambda: (tmp / "checkpoints" / "step-000004").exists())
    assert (tmp / "metrics.jsonl").exists()  # the killed run had written its files: aside
    assert _snapshot(out) == before  # train/ is still the first run's, byte for byte
    again = run_training(small_df, None, TrainConfig(**cfg), out, model=make_model(), tokenizer=tokenizer)
    assert not tmp.exists() and (out / "adapter" / "adapter_model.safetensors").exists()
    assert again["steps"] == 3 and json.loads((out / "summary.json").read_text())["adapter_dir"] == str(
        out / "adapter"
    )
    assert not any(b".partial" in b for b in _snapshot(out).values())  # no path points into the temp
