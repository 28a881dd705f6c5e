"""docs/training.md explains every training option (the config is the source of truth)."""

from __future__ import annotations

from pathlib import Path

from curate.train.config import TrainConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def test_every_option_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in TrainConfig.model_fields if f"`{name}`" not in text]
    assert not missing, f"document these train options in docs/training.md: {missing}"


def test_every_option_has_a_description():
    assert all(f.description for f in TrainConfig.model_fields.values())
