"""The worker side of ``executors.pool``: what one spawned process does with the shards it is sent.

It unpickles the ``Job`` once, builds the segment's stages once (a stage that loads a tokenizer
or model does so once per worker), then runs each shard it is sent through every stage
(``segment.run_shard``, which writes the shard's files) and answers with the seconds each stage
took, or with the error as plain strings (an exception need not pickle to be reported). It ignores
SIGINT (Ctrl-C is the driver's to handle) and dies with the driver (``PR_SET_PDEATHSIG`` on Linux,
a watchdog on the parent's pid everywhere), so nothing keeps writing after a ``kill -9``.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import StageError
from curate.pipeline import registry, thin
from curate.pipeline.executors.segment import Step, run_shard
from curate.pipeline.shards import Shards
from curate.pipeline.stage import Stage, StageContext, StageResult


@dataclass
class Job:
    """What every worker needs, pickled once by the driver: the stages as (class, config) to build,
    where each writes, the input shards and how to apply a stage."""

    stages: list[tuple[str, type[Stage], Any, Path, Path, Path | None]]  # name, class, config, dirs
    ctx: StageContext
    src: Shards
    apply: Callable[[Stage, pl.DataFrame], StageResult]
    force: bool
    thin: bool
    threads: int


def work(payload: bytes, conn: Connection, parent: int) -> None:
    """A worker's life: build the stages once, then run each shard it is sent until told to stop."""
    _die_with(parent)  # first: unpickling imports the stages' modules, which takes a while
    job: Job = pickle.loads(payload)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    thin.ENABLED = job.thin
    if "torch" in sys.modules:  # imported with a stage's module: cap its intra-op threads too
        sys.modules["torch"].set_num_threads(job.threads)
    from curate.pipeline.progress import compile_clock

    steps: list[Step] | None = None
    while True:
        n = conn.recv()
        if n is None:
            return
        try:
            with compile_clock() as clock:
                if steps is None:
                    steps = _build(job)
                seconds = run_shard(steps, job.src, n, job.apply, job.force)
            conn.send(("done", n, seconds, clock.seconds))
        except BaseException as e:  # named and sent as plain strings: any exception crosses back
            conn.send(("error", _describe(e, job, n), traceback.format_exc()))
            return


def _build(job: Job) -> list[Step]:
    """The segment's stages, built once per worker. A stage registered at run time in the driver
    (not by its module's decorator, which the import ran) is registered here under the same name."""
    steps = []
    for name, cls, cfg, sdir, tmp, scores in job.stages:
        if getattr(cls, "name", None) != name:
            registry.register(name)(cls)
        try:
            steps.append(Step(cls(cfg, ctx=job.ctx), sdir, tmp, scores))
        except Exception as e:
            raise StageError(f"{type(e).__name__}: {e}", stage=name) from e
    return steps


def _describe(e: BaseException, job: Job, n: int) -> dict[str, Any]:
    if isinstance(e, StageError):
        where = f" at {e.origin}" if e.origin else ""
        message = e.message.removeprefix(f"stage {e.stage}{where}: ")
        return {"stage": e.stage, "origin": e.origin, "message": message, "hint": e.hint}
    names = " + ".join(name for name, *_ in job.stages)
    return {
        "stage": names,
        "origin": f"shard {n} ({job.src.paths[n].name})",
        "message": f"{type(e).__name__}: {e}",
        "hint": "re-run with --debug for the traceback",
    }


def _die_with(parent: int) -> None:
    """Exit when the driver does: the kernel's parent-death signal on Linux (the driver's main
    thread started this process), and a watchdog on its pid everywhere."""
    if sys.platform.startswith("linux"):
        import ctypes

        with suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="curate-pool-watchdog").start()


__all__ = ["Job", "work"]
