"""One run at a time per run directory: an advisory lock file that names its holder.

``<run>/.lock`` is locked with ``fcntl.flock`` for the whole run and holds the holder's pid and
host. The kernel drops a flock when its process dies (kill -9 included), so a lock left by a
dead run is never "held": the next run takes it over and logs the dead pid it found in the file.
A second live run on the same directory is refused with a ``RunLockedError`` naming the holder,
instead of both writing the same stage folders (which crashed one of them with a raw
``FileNotFoundError``). POSIX only (Linux, macOS), like the rest of the local executor.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from curate.errors import CurateError

log = logging.getLogger(__name__)
LOCK_NAME = ".lock"


class RunLockedError(CurateError):
    """Another live process is running in this run directory."""


def read_holder(root: Path) -> dict[str, Any] | None:
    """What the lock file says about its last holder (pid, host, since), or None."""
    try:
        text = (Path(root) / LOCK_NAME).read_text(encoding="utf-8")
        return json.loads(text) if text.strip() else None
    except (OSError, json.JSONDecodeError):
        return None


def is_locked(root: Path) -> bool:
    """True while a live process holds ``root``'s lock (probes with a non-blocking flock)."""
    p = Path(root) / LOCK_NAME
    if not p.exists():
        return False
    with open(p, "a+b") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


class RunLock:
    """Context manager holding ``<root>/.lock`` for one run."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK_NAME
        self._f: Any = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+b")  # held open (and flocked) for the whole run
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            h = read_holder(self.path.parent) or {}
            who = f"pid {h.get('pid', '?')}" + (f" on {h['host']}" if h.get("host") else "")
            since = f" since {h['since']}" if h.get("since") else ""
            raise RunLockedError(
                f"run directory {self.path.parent} is in use by another curate run ({who}{since})",
                hint="wait for it to finish, or use --out to run into another directory",
            ) from None
        old = read_holder(self.path.parent)
        if old and old.get("pid") not in (None, os.getpid()):
            log.warning(
                "run directory %s: taking over the lock of pid %s, which is no longer running "
                "(a killed run; finished stages are reused)",
                self.path.parent,
                old.get("pid"),
            )
        f.seek(0)
        f.truncate()
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        f.write(json.dumps(me).encode())
        f.flush()
        self._f = f
        return self

    def __exit__(self, *exc: object) -> None:
        f, self._f = self._f, None
        if f is None:
            return
        f.seek(0)
        f.truncate()  # an empty file: released cleanly, nothing stale to report
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()
