"""Measure a Hugging Face Trainer from the inside, the same way for TRL and LLaMA-Factory.

Imported only inside the peers' own venvs. ``count_tokens(TrainerClass)`` wraps its
``training_step`` to count the tokens of every micro-batch that is actually consumed (non-pad =
attention-mask ones; trained = labels other than -100), and ``StepProbe`` times the training loop from
``on_train_begin`` (after model load, LoRA wrapping and tokenization) to the last ``on_step_end`` and
collects the per-step losses the trainer logs. The result is one JSON file the harness reads.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

T_START = time.perf_counter()
COUNTS = {"tokens_nonpad": 0, "tokens_trained": 0, "tokens_padded": 0, "micro_batches": 0}


def cpu_s() -> float:
    """User + system CPU seconds of this process (all threads): less sensitive to a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def count_tokens(trainer_cls: type) -> None:
    """Wrap ``trainer_cls.training_step`` so each consumed micro-batch adds to ``COUNTS``."""
    inner = trainer_cls.training_step

    def training_step(self: Any, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        ids = inputs["input_ids"]
        am = inputs.get("attention_mask")
        COUNTS["tokens_nonpad"] += int(am.sum()) if am is not None else int(ids.numel())
        COUNTS["tokens_padded"] += int(ids.numel())
        if inputs.get("labels") is not None:
            COUNTS["tokens_trained"] += int((inputs["labels"][:, 1:] != -100).sum())
        COUNTS["micro_batches"] += 1
        return inner(self, model, inputs, *args, **kwargs)

    trainer_cls.training_step = training_step


class StepProbe(TrainerCallback):
    """Times the step loop and writes the measured result to ``out`` when training ends."""

    def __init__(self, out: Path, tool: str, info: dict[str, Any]) -> None:
        self.out, self.tool, self.info = out, tool, info
        self.t0 = self.cpu0 = self.cpu1 = 0.0
        self.step_ends: list[float] = []
        self.step_tokens: list[int] = []  # cumulative non-pad tokens at each step end

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.t0, self.cpu0 = time.perf_counter(), cpu_s()

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.step_ends.append(time.perf_counter())
        self.step_tokens.append(COUNTS["tokens_nonpad"])
        self.cpu1 = cpu_s()

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
        losses = [h["loss"] for h in state.log_history if "loss" in h and "step" in h]
        dtypes = sorted({str(p.dtype) for p in model.parameters()}) if model is not None else []
        gc = bool(getattr(model, "is_gradient_checkpointing", False)) if model is not None else None
        result = {
            "tool": self.tool,
            "steps": state.global_step,
            "setup_s": self.t0 - T_START,
            "train_s": (self.step_ends[-1] if self.step_ends else time.perf_counter()) - self.t0,
            "cpu_s": self.cpu1 - self.cpu0,
            "step_s": [b - a for a, b in zip([self.t0, *self.step_ends], self.step_ends, strict=False)],
            "step_tokens": [b - a for a, b in zip([0, *self.step_tokens], self.step_tokens, strict=False)],
            "losses": losses,
            "param_dtypes": dtypes,
            "gradient_checkpointing": gc,
            **COUNTS,
            **self.info,
        }
        self.out.write_text(json.dumps(result, indent=1))
