"""One BLAS/OpenMP thread for small numeric jobs.

On a shared 2-core machine (8 agents), sklearn's k-means and randomized SVD with their default
thread pools spin-wait for a busy core: k-means on 1,951 x 1,024 took 9.6 s with the default
pools and 0.21 s with one thread; TruncatedSVD on 680 x 9,852 TF-IDF 18 s against 1.2 s.
Jobs below ``SMALL_FLOPS`` gain nothing from threads even on an idle machine, so they run on one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

SMALL_FLOPS = 2e10


def threads_for(flops: float) -> AbstractContextManager[Any]:
    """``threadpool_limits(1)`` for a job of fewer than ``SMALL_FLOPS`` floating-point operations."""
    if flops >= SMALL_FLOPS:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)
