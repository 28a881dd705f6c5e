"""Typed training config: the recipe's ``train:`` block and ``curate train --config``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    """Every training knob. Defaults follow common LoRA SFT practice for small data."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["lora", "full", "cpt"] = "lora"
    model: str = "smollm2-135m"
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    lr: float = Field(default=2.0e-4, gt=0)
    rank: int = Field(default=8, ge=1)
    alpha: float = Field(default=16, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    max_len: int = Field(default=512, ge=8)
    batch_size: int = Field(default=8, ge=1)
    seed: int | None = None
