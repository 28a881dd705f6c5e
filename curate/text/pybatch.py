"""The one door for per-row Python in rule filters: batches, timing and a performance note.

STYLE.md habit 5: a rule that cannot be a polars expression (a language-id model, ftfy) runs through
``map_rows`` so its cost is visible in the log instead of hiding in a ``map_elements``. Parallelism
across batches belongs to the executor; this wrapper only batches within one call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def map_rows(
    name: str,
    fn: Callable[[Sequence[str]], Sequence[T]],
    values: Sequence[str],
    *,
    batch_rows: int = 8192,
) -> list[T]:
    """Apply ``fn`` (a whole-batch function) to ``values`` in batches of ``batch_rows``; log rows/s.

    ``fn`` receives a list of strings and returns one result per string, in order.
    """
    start = time.perf_counter()
    out: list[T] = []
    for i in range(0, len(values), batch_rows):
        chunk = values[i : i + batch_rows]
        res = fn(chunk)
        if len(res) != len(chunk):
            raise RuntimeError(f"{name}: batch function returned {len(res)} results for {len(chunk)} rows")
        out.extend(res)
    secs = time.perf_counter() - start
    if values:
        log.info(
            "%s: per-row Python over %d rows took %.2f s (%.0f rows/s); run more batches in parallel "
            "(executor workers) if this dominates",
            name,
            len(values),
            secs,
            len(values) / max(secs, 1e-9),
        )
    return out
