"""Several processes (``accelerate launch -m curate train ...``): accelerate's DDP, not our own.

One process (the default) makes every helper here a no-op. Under ``accelerate launch`` each rank
takes every ``world``-th example of each step, the loss runs inside a module that accelerate wraps
(so DDP/FSDP hooks see the forward), gradients synchronise once per step (``no_sync`` on the other
micro-batches), and the per-rank token-loss sums are normalised by the step's global target count
times ``world`` because DDP averages gradients. The main rank evaluates, logs and saves.

FSDP and DeepSpeed are refused with a clear error (``check_engine``): they shard the weights, and
without CUDA accelerate silently falls back to DDP, so they could not be run here (2 CPU cores,
no multi-GPU machine) to make eval, sampling and saving gather the shards.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from curate.errors import TrainError
from curate.train.batching import Batch
from curate.train.loss import batch_loss


class LossModule(torch.nn.Module):
    """``batch -> summed token loss`` as a module, so accelerate can wrap it for DDP or FSDP."""

    def __init__(self, model: Any, *, prompt_learning: bool, virtual_tokens: int):
        super().__init__()
        self.model = model
        self.prompt_learning, self.virtual_tokens = prompt_learning, virtual_tokens

    def forward(self, batch: Batch) -> torch.Tensor:
        return batch_loss(
            self.model, batch, prompt_learning=self.prompt_learning, virtual_tokens=self.virtual_tokens
        )


# Engines whose parameters are sharded across ranks: the main rank alone cannot evaluate, sample
# or save from them, which is what the loop does, so they are refused until that is built and run.
SHARDED = ("FSDP", "DEEPSPEED", "MEGATRON_LM")


def check_engine(kind: str) -> None:
    """Refuse an accelerate engine this loop cannot drive correctly (see ``SHARDED``)."""
    name = kind.rsplit(".", 1)[-1].upper()
    if name in SHARDED:
        raise TrainError(
            f"accelerate is configured for {name}, which shards the weights across processes; "
            "curate evaluates, samples and saves on the main process with whole weights, so it "
            "supports data-parallel (DDP) launches only",
            hint="run `accelerate launch --multi_gpu -m curate train ...` (DDP); LoRA on a model that "
            "fits one GPU needs nothing more",
        )


@dataclass
class Dist:
    """Rank, world size and the accelerate ``Accelerator`` (None in a single process)."""

    acc: Any = None
    rank: int = 0
    world: int = 1

    @classmethod
    def detect(cls) -> Dist:
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls()
        from accelerate import Accelerator

        acc = Accelerator(cpu=not torch.cuda.is_available())
        check_engine(str(acc.distributed_type))
        return cls(acc, acc.process_index, acc.num_processes)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, step: np.ndarray) -> tuple[np.ndarray, float]:
        """This rank's examples of a step and its loss weight (0 when it has none: it then runs the
        step's first example with weight 0, so that every rank joins the gradient all-reduce)."""
        mine = step[self.rank :: self.world]
        return (mine, 1.0) if len(mine) else (step[:1], 0.0)

    def wrap(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer) -> tuple[Any, Any]:
        return (module, optimizer) if self.acc is None else self.acc.prepare(module, optimizer)

    def sync(self, module: Any, last: bool) -> contextlib.AbstractContextManager[Any]:
        """Skip the gradient all-reduce on every micro-batch but a step's last."""
        return contextlib.nullcontext() if self.acc is None or last else self.acc.no_sync(module)

    def total(self, x: float, device: Any) -> float:
        if self.acc is None:
            return x
        return float(self.acc.reduce(torch.tensor([x], device=device, dtype=torch.float64), "sum")[0])

    def clip(self, params: list[torch.nn.Parameter], max_norm: float) -> float:
        if self.acc is None:
            return float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        return float(self.acc.clip_grad_norm_(params, max_norm))

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """The main rank does it first (tokenize into the cache), the others then reuse its file."""
        if self.acc is None:
            yield
        else:
            with self.acc.main_process_first():
                yield

    def barrier(self) -> None:
        if self.acc is not None:
            self.acc.wait_for_everyone()
