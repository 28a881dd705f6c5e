"""Progress for people: a bar on a terminal, a heartbeat line elsewhere, and a log file per run.

STYLE.md habit 8: only the runner draws, on stderr. Long stages (``truncate.history`` ~2 min,
``mix.ratio`` 1-2 min on the quickstart) used to run silently; now

- on a TTY a transient bar shows the stage, a spinner and the elapsed time;
- off a TTY (CI, ``nohup``, a pipe) one log line every ``HEARTBEAT_S`` seconds says what is still
  running and for how long, so a log never looks hung;
- ``<run>/run.log`` gets every curate log line of the run, with times, including the developer notes
  (records logged with ``extra={"curate_note": True}``, e.g. the per-row Python rows/s note) that the
  CLI keeps off the console (``is_note``).

``compile_clock`` measures numba's one-time JIT compiles inside a stage, so the summary can show a
first run's 16 s of ``dedup.minhash`` as "incl. 16 s one-time compile" instead of as the stage's cost
(numba fires ``numba:compile`` only for real compiles, not for cache loads; kernels compiled in
worker processes are not seen).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)
Mode = Literal["bar", "heartbeat", "off"]
HEARTBEAT_S = 30.0
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"



def is_note(record: logging.LogRecord) -> bool:
    """A developer-facing note (costs, tuning hints): for run.log, not for the console."""
    return bool(getattr(record, "curate_note", False))


def mode(progress: bool | None) -> Mode:
    """None: a bar on a terminal, a heartbeat otherwise; True: a bar; False: nothing (library use)."""
    if progress is None:
        return "bar" if sys.stderr.isatty() else "heartbeat"
    return "bar" if progress else "off"


@contextmanager
def status(what: str, how: Mode, *, every_s: float = HEARTBEAT_S) -> Iterator[None]:
    """Show that ``what`` is running for as long as the block runs."""
    if how == "bar":
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        cols = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*cols, console=Console(stderr=True), transient=True) as bar:
            bar.add_task(what, total=None)
            yield
        return
    if how == "off":
        yield
        return
    stop = threading.Event()
    start = time.perf_counter()

    def beat() -> None:
        while not stop.wait(every_s):
            log.info("still running: %s (%.0f s)", what, time.perf_counter() - start)

    t = threading.Thread(target=beat, name="curate-heartbeat", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


@contextmanager
def run_log(root: Path) -> Iterator[Path]:
    """Append every curate log line (and the developer notes) of this run to ``root/run.log``."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "run.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger("curate")
    logger.addHandler(handler)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        handler.close()


class CompileClock:
    """Seconds numba spent compiling (not loading from cache) while the clock ran."""

    seconds = 0.0


@contextmanager
def compile_clock() -> Iterator[CompileClock]:
    """Time numba compiles in the block. A stage's module (and so its kernels' numba) is imported
    when the registry looks the stage up, before this runs; without numba there is nothing to time."""
    clock = CompileClock()
    if "numba" not in sys.modules:
        yield clock
        return
    from numba.core import event

    def done(seconds: float) -> None:
        clock.seconds = seconds

    with event.install_timer("numba:compile", done):
        yield clock
