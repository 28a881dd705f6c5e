"""numba, set up once for every compiled kernel in curate (``from curate.text.jit import nb``).

Two start-up fixes live here; each saves a short-lived process a tenth of a second or more. They
patch numba, so they are opt-in: ``import curate`` never applies them. The CLI entry (and the
benchmark) sets ``CURATE_FAST_START=1``, and this module applies them when it is first imported
(worker processes inherit the variable); a library user may call ``fast_start()`` before the
first kernel runs.

BLAS probe: numba's first compile or cache load imports ``numba.np.arraymath``,
which probes for BLAS at import time by importing ``scipy.linalg``. That import pulls in
``numpy.f2py`` through scipy's array-API layer. On a 2-core machine it adds ~0.3 s of import and
exit time to every process that runs a kernel, and none of curate's kernels use BLAS. So we import
``arraymath`` with the probe answering "not yet", then put back what the probe would have found
(is scipy installed?) without importing it. numba behaves the same afterwards: code that needs
BLAS (``np.dot`` and friends) still imports scipy when numba compiles it. If numba's internals
ever differ from what this expects, the fix does nothing and numba probes as usual.

Cache loads: before loading a cached kernel, numba "refreshes" its compiler: it imports and
registers the typing and lowering rules of every supported Python and NumPy feature (~60 modules,
0.1 s). Cached machine code needs none of that, only the runtime (NRT) whose functions it calls.
So a cache load of a curate kernel initializes the runtime alone; a real compile still refreshes
everything first (numba's compiler does that itself on every compile), so nothing that compiles
behaves differently, and other libraries' cached functions load exactly as numba loads them.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numba as nb

__all__ = ["FAST_START_ENV", "fast_start", "nb"]

FAST_START_ENV = "CURATE_FAST_START"


def _defer_blas_probe() -> None:
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return  # already probed, or scipy is loaded anyway: nothing to save
    try:
        import numba.np.linalg as linalg
    except ImportError:
        return
    probe = getattr(linalg, "ensure_blas", None)
    if probe is None:
        return

    def later() -> None:
        raise ImportError("BLAS probe deferred by curate")

    linalg.ensure_blas = later
    try:
        import numba.np.arraymath as arraymath
    finally:
        linalg.ensure_blas = probe
    if hasattr(arraymath, "_HAVE_BLAS"):
        arraymath.ensure_blas = probe
        arraymath._HAVE_BLAS = importlib.util.find_spec("scipy") is not None


def _lean_cache_loads() -> None:
    try:
        from numba.core.caching import Cache
        from numba.core.runtime.nrt import rtsys
    except ImportError:
        return
    if not all(hasattr(Cache, a) for a in ("_load_overload", "_guard_against_spurious_io_errors")):
        return
    if getattr(Cache.load_overload, "curate_lean", False):
        return  # already applied

    full = Cache.load_overload

    def load_overload(self, sig, target_context):
        """numba's ``Cache.load_overload`` without the compiler refresh, for curate's own kernels
        (see module docstring); other libraries' cached functions load as numba loads them."""
        if not getattr(getattr(self, "_py_func", None), "__module__", "").startswith("curate."):
            return full(self, sig, target_context)
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    load_overload.curate_lean = True  # type: ignore[attr-defined]
    Cache.load_overload = load_overload


def fast_start() -> None:
    """Apply both start-up fixes (idempotent; effective before the first kernel compiles or loads)."""
    _defer_blas_probe()
    _lean_cache_loads()


if os.environ.get(FAST_START_ENV) == "1":
    fast_start()
