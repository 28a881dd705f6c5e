"""Process set-up the CLI entry opts into (``process_setup``); a plain ``import curate`` never does it.

Both save a short-lived process a few tenths of a second and change global interpreter or numba
state, which a library must not do to its host (a notebook, someone else's pipeline).
"""

from __future__ import annotations

import atexit
import gc
import os

FAST_START_ENV = "CURATE_FAST_START"  # read by curate.text.jit when the kernels are first imported


def process_setup() -> None:
    """Freeze the heap at exit and ask for numba's start-up fixes (see ``curate.text.jit``).

    At exit, CPython runs a full cycle collection over every live object before freeing modules.
    After numba has loaded kernels that is ~10^6 objects and 0.2-0.3 s of a short run's wall time,
    spent finding garbage the OS reclaims anyway. Freezing the heap first skips that scan; objects
    are still released by reference counting and every atexit handler still runs. The numba fixes
    are requested through the environment so worker processes get them too, and so numba (~1 s to
    import) is not imported by commands that never run a kernel.
    """
    atexit.register(gc.freeze)
    os.environ.setdefault(FAST_START_ENV, "1")
