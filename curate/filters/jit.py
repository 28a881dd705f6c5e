"""numba, set up once for every compiled kernel in curate (``from curate.filters.jit import nb``).

One start-up fix lives here. numba's first compile or cache load imports ``numba.np.arraymath``,
which probes for BLAS at import time by importing ``scipy.linalg``. That import pulls in
``numpy.f2py`` through scipy's array-API layer. On a 2-core machine it adds ~0.3 s of import and
exit time to every process that runs a kernel, and none of curate's kernels use BLAS. So we import
``arraymath`` with the probe answering "not yet", then put back what the probe would have found
(is scipy installed?) without importing it. numba behaves the same afterwards: code that needs
BLAS (``np.dot`` and friends) still imports scipy when numba compiles it. If numba's internals
ever differ from what this expects, the fix does nothing and numba probes as usual.
"""

from __future__ import annotations

import importlib.util
import sys

import numba as nb

__all__ = ["nb"]


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


_defer_blas_probe()
