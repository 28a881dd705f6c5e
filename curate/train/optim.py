"""Small pieces the loop uses: device and precision, the lr schedule, and the loss-spike guard."""

from __future__ import annotations

import contextlib
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import torch

from curate.lm.likelihood import cpu_threads  # one thread policy for training and scoring
from curate.train.config import TrainConfig


@dataclass
class Runtime:
    """Where and in what precision the step runs.

    fp32 on CPU (bf16 matmuls there are slower without AMX, fp16 slower still); bf16 autocast on
    GPUs that have it, else fp16 autocast with a dynamic loss scale (GradScaler) so small gradients
    do not underflow. Master weights and optimizer state stay fp32 in every mode.
    """

    device: torch.device
    dtype: torch.dtype  # autocast dtype; float32 = no autocast
    scaler: Any = None

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: Any) -> None:
        """Before clipping: gradients back to their true scale (fp16 only)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: Any) -> None:
        """Optimizer step; with fp16 the scaler skips it on inf/nan gradients and adapts the scale."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)


def runtime(cfg: TrainConfig) -> Runtime:
    """Pick device, precision and CPU threads from ``cfg``."""
    cuda = torch.cuda.is_available() and cfg.device != "cpu"
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads or cpu_threads())
    prec = cfg.precision
    if prec == "auto":
        prec = "fp32" if not cuda else ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[prec]
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    return Runtime(device, dtype, scaler)


def lr_at(step: int, *, total: int, peak: float, warmup: int, floor_ratio: float) -> float:
    """Linear warmup to ``peak``, then cosine decay to ``floor_ratio * peak`` at the last step.

    >>> round(lr_at(0, total=100, peak=1.0, warmup=10, floor_ratio=0.1), 3)
    0.1
    >>> round(lr_at(99, total=100, peak=1.0, warmup=10, floor_ratio=0.1), 3)
    0.1
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    span = max(1, total - 1 - warmup)
    progress = min(1.0, (step - warmup) / span)
    return peak * (floor_ratio + (1 - floor_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class SpikeGuard:
    """Skip a step whose loss is not finite or above ``factor`` x the running median; count skips.

    Why a median: a mean is dragged up by the very spike it should catch. The guard acts only after
    ``warmup`` accepted steps, since early losses fall fast and legitimately.
    """

    factor: float
    window: int
    warmup: int
    max_skips: int
    history: deque[float] = field(default_factory=deque)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def check(self, loss: float) -> bool:
        """True if the step may be applied; a rejected loss is not added to the history."""
        if not math.isfinite(loss):
            return False
        if len(self.history) >= self.warmup:
            med = sorted(self.history)[len(self.history) // 2]
            if loss > self.factor * med:
                return False
        self.history.append(loss)
        while len(self.history) > self.window:
            self.history.popleft()
        return True

    @property
    def exhausted(self) -> bool:
        return len(self.skipped) >= self.max_skips

    def state(self) -> dict[str, Any]:
        return {"history": list(self.history), "skipped": self.skipped}

    def load(self, state: dict[str, Any]) -> None:
        self.history = deque(state["history"])
        self.skipped = list(state["skipped"])
