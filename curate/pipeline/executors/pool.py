"""A fused row segment's shards in a pool of worker processes (issue 16: Python per-row stages
scale with cores).

The serial loop (``segment.run_segment``) runs one shard at a time in this process; polars and the
compiled kernels use threads, but a stage's per-row Python (``clean.normalize``'s regexes, a
tokenizer's calls, ``map_elements``) holds the GIL and runs on one core. Here ``workers`` processes
each run whole shards through every stage of the segment (``segment.run_shard``) and write that
shard's kept, removed, side and scored files and its part markers themselves, exactly as the serial
loop would: the driver sends shard numbers and gets back seconds, never rows, and sums the ledgers
from the markers afterwards (``segment._close``). The files do not depend on which process wrote
them, so the run is byte-identical to the serial one, and a killed run resumes at the shards
whose markers are missing, in whatever order the workers finished.

* Start method ``spawn``: a fresh interpreter, never a ``fork`` of a driver whose polars, numba or
  torch thread pools are already running (a forked child can inherit a held lock and hang).
* Threads: each worker gets ``ctx.workers // workers`` of them (at least one), for its kernels
  (``StageContext.workers``), polars, numba, BLAS/torch and rayon, through the environment it is
  started with, so processes x threads stays at the cores the run may use.
* A worker builds the segment's stages once (a stage that loads a tokenizer or model does so once
  per worker, not per shard) and keeps them for every shard it is sent.
* Errors are named: a stage that raises in a worker comes back as the ``StageError`` the serial
  loop raises (stage, shard, message; the worker's traceback chained under it, shown by
  ``--debug``); a worker that dies (killed, out of memory) names its shard and exit signal.
* Nothing outlives the driver: workers ignore SIGINT (the driver handles Ctrl-C and terminates
  them) and die with their parent (``PR_SET_PDEATHSIG`` on Linux, a watchdog thread elsewhere), so a
  ``kill -9`` of ``curate run`` leaves no process writing into the run directory.

Cost: one interpreter start and ``import curate`` per worker (~1-2 s on a shared 2-core machine),
paid once per segment, so the pool starts only when at least two shards are left to run; memory is
one shard's worth per worker.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import signal
import sys
import types
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Any

import polars as pl

from curate.errors import StageError
from curate.pipeline import thin
from curate.pipeline.executors.segment import Step
from curate.pipeline.executors.worker import Job, work
from curate.pipeline.shards import Shards
from curate.pipeline.stage import Stage, StageContext, StageResult

log = logging.getLogger(__name__)

ENABLED = True  # off: every segment runs serially in this process (the tests compare both)
THREAD_VARS = (  # thread-pool sizes read when a library starts in the worker
    "POLARS_MAX_THREADS",
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "RAYON_NUM_THREADS",
)


class RemoteTraceback(Exception):
    """A worker's traceback, chained under the error the driver raises (``--debug`` prints it)."""


def run_pool(
    steps: list[Step],
    shards: Shards,
    todo: list[int],
    apply: Callable[[Stage, pl.DataFrame], StageResult],
    *,
    workers: int,
    ctx: StageContext | None,
    force: bool = False,
    tick: Callable[[int], None] | None = None,
) -> bool:
    """Run shards ``todo`` of ``shards`` through ``steps`` in ``min(workers, len(todo))`` processes.

    Each step's ``seconds`` (and ``compile_s``) grow by what its stage took in the workers. Raises
    the ``StageError`` of the first shard that failed, after stopping every worker. False (and
    nothing run) when the stages cannot be sent to another process (a model or callable in the
    context that does not pickle): the caller then runs the segment in this process."""
    ctx = ctx or StageContext()
    n_proc = max(1, min(workers, len(todo)))
    threads = max(1, ctx.workers // n_proc)
    job = Job(
        stages=[(s.stage.name, type(s.stage), s.stage.cfg, s.sdir, s.tmp, s.scores) for s in steps],
        ctx=replace(ctx, workers=threads),
        src=shards,
        apply=apply,
        force=force,
        thin=thin.ENABLED,
        threads=threads,
    )
    names = " + ".join(s.stage.name for s in steps)
    try:
        payload = pickle.dumps(job)  # once, not once per worker; a stage that cannot travel stays here
    except Exception as e:
        log.warning(
            "%s: runs in this process: its stages cannot go to workers (%s: %s)", names, type(e).__name__, e
        )
        return False
    log.info("%s: %d shards in %d worker processes x %d threads", names, len(todo), n_proc, threads)
    spawn = mp.get_context("spawn")
    procs: list[_Worker] = []
    try:
        with _thread_env(threads), _bare_main(job):
            for _ in range(n_proc):
                mine, theirs = spawn.Pipe()
                p = spawn.Process(
                    target=work, args=(payload, theirs, os.getpid()), daemon=True, name="curate-pool"
                )
                p.start()
                theirs.close()
                procs.append(_Worker(p, mine))
        _drive(procs, deque(todo), steps, shards, names, tick, main=_from_main(job))
    finally:
        _stop(procs)
    return True


@dataclass
class _Worker:
    proc: Any  # multiprocessing.Process
    conn: Connection
    shard: int | None = None


def _drive(
    procs: list[_Worker],
    queue: deque[int],
    steps: list[Step],
    shards: Shards,
    names: str,
    tick: Callable[[int], None] | None,
    *,
    main: bool = False,
) -> None:
    """Hand out shards one at a time until none is left and every worker has answered."""
    for w in procs:
        _feed(w, queue)
    while any(w.shard is not None for w in procs):
        busy = [w for w in procs if w.shard is not None]
        ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
        for w in busy:
            if w.conn not in ready and w.proc.sentinel not in ready:
                continue
            try:
                msg = w.conn.recv() if w.conn.poll() else None
            except (EOFError, OSError):
                msg = None
            if msg is None:
                w.proc.join(timeout=5)
                raise _died(w, names, len(shards), main=main)
            if msg[0] == "error":
                raise _rebuilt(msg[1], msg[2])
            _, n, seconds, compile_s = msg
            for s, sec in zip(steps, seconds, strict=True):
                s.seconds += sec
            steps[0].compile_s += compile_s
            if tick is not None:
                tick(n)
            _feed(w, queue)


def _feed(w: _Worker, queue: deque[int]) -> None:
    w.shard = queue.popleft() if queue else None
    w.conn.send(w.shard)


def _died(w: _Worker, names: str, count: int, *, main: bool) -> StageError:
    code = w.proc.exitcode
    how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
    oom = " (SIGKILL: the system may have run out of memory)" if code == -signal.SIGKILL else ""
    hint = (
        "re-run to resume at the unfinished shards; `workers: 1` in the recipe (or --workers 1) "
        "runs them in this process"
    )
    if main:
        hint += "; a stage defined in your script needs its run under `if __name__ == '__main__':`"
    return StageError(
        f"a worker process (pid {w.proc.pid}) {how}{oom} while running shard {w.shard} of {count}",
        stage=names,
        hint=hint,
    )


def _rebuilt(info: dict[str, Any], tb: str) -> StageError:
    """The worker's error as the StageError the serial loop raises, its traceback chained under."""
    err = StageError(info["message"], stage=info["stage"], origin=info["origin"], hint=info["hint"])
    err.__cause__ = RemoteTraceback(f"in the worker process:\n{tb}")
    return err


def _stop(procs: list[_Worker]) -> None:
    """End every worker: a clean exit when it was told so, else SIGTERM, then SIGKILL."""
    for w in procs:
        w.proc.join(timeout=0 if w.shard is not None else 5)
        if w.proc.is_alive():
            w.proc.terminate()
    for w in procs:
        w.proc.join(timeout=5)
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join()
        w.conn.close()


@contextmanager
def _thread_env(threads: int) -> Iterator[None]:
    """The thread-pool variables a spawned worker starts with (``os.environ`` is what ``spawn``
    passes), restored as soon as the workers are started: this process's pools are running already."""
    old = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: str(threads) for k in THREAD_VARS})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _from_main(job: Job) -> bool:
    return any(cls.__module__ == "__main__" for _, cls, *_ in job.stages)


@contextmanager
def _bare_main(job: Job) -> Iterator[None]:
    """Start workers without re-running the driver's ``__main__``: ``spawn`` imports the main
    script in every child, which re-runs a script without an ``if __name__ == "__main__":`` guard
    (its ``curate.run`` would start again, inside the worker). Only a stage class defined in that
    script needs it; then the script is imported, and must be guarded, as ``multiprocessing`` says."""
    if _from_main(job):
        yield
        return
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


__all__ = ["ENABLED", "RemoteTraceback", "run_pool"]
