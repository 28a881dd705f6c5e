"""Chunked greedy selection on unit vectors: never an n x n matrix.

``greedy_keep`` walks rows in priority order and keeps a row unless its cosine to a row already
kept is above ``threshold``: SemDeDup's rule (within a k-means cluster) and Deita's repr filter
(globally, until a budget). It works a ``block`` of rows at a time: one matmul against the kept
rows (``kept_chunk`` of them at a time) and one ``block x block`` matmul inside the block, then a
short loop that resolves rows only when they are close to an earlier row of the same block. Peak
extra memory is ``block x max(block, kept_chunk)`` floats (32 MB at the defaults), whatever n is.

``k_center`` and ``facility_location`` are the other two diversity objectives of select.diverse.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np


@dataclass
class Greedy:
    """Per row: ``kept``; ``decided`` (False when a budget stopped the walk first); ``dup_of`` (row
    index of the closest kept row when it was over the threshold, else -1); ``sim`` (that cosine,
    or the max cosine to rows kept before it)."""

    kept: np.ndarray
    decided: np.ndarray
    dup_of: np.ndarray
    sim: np.ndarray


def greedy_keep(
    x: np.ndarray,
    order: np.ndarray,
    *,
    threshold: float,
    limit: int | None = None,
    block: int = 1024,
    kept_chunk: int = 8192,
) -> Greedy:
    """Keep rows of ``x`` (unit vectors) in ``order`` unless cosine to a kept row > ``threshold``."""
    n = x.shape[0]
    kept = np.zeros(n, dtype=bool)
    decided = np.zeros(n, dtype=bool)
    dup_of = np.full(n, -1, dtype=np.int64)
    sim = np.full(n, -1.0, dtype=np.float32)
    kept_rows: list[np.ndarray] = []  # indices kept, in blocks
    n_kept = 0
    for lo in range(0, len(order), block):
        if limit is not None and n_kept >= limit:
            break
        idx = order[lo : lo + block]
        b = x[idx]
        best = np.full(len(idx), -1.0, dtype=np.float32)
        arg = np.full(len(idx), -1, dtype=np.int64)
        if kept_rows:
            kall = np.concatenate(kept_rows)
            for klo in range(0, len(kall), kept_chunk):
                kk = kall[klo : klo + kept_chunk]
                s = b @ x[kk].T
                j = s.argmax(axis=1)
                v = s[np.arange(len(idx)), j]
                up = v > best
                best[up], arg[up] = v[up], kk[j[up]]
        inner = b @ b.T
        np.fill_diagonal(inner, -1.0)
        new_kept: list[int] = []
        for r in range(len(idx)):
            if limit is not None and n_kept >= limit:
                break
            i = idx[r]
            decided[i] = True
            if new_kept:
                nk = np.asarray(new_kept)
                s = inner[r, nk]
                j = int(s.argmax())
                if s[j] > best[r]:
                    best[r], arg[r] = s[j], idx[nk[j]]
            sim[i] = best[r]
            if best[r] > threshold:
                dup_of[i] = arg[r]
            else:
                kept[i] = True
                new_kept.append(r)
                n_kept += 1
        if new_kept:
            kept_rows.append(idx[np.asarray(new_kept)])
    return Greedy(kept=kept, decided=decided, dup_of=dup_of, sim=sim)


def k_center(x: np.ndarray, budget: int, *, first: int = 0) -> np.ndarray:
    """Greedy k-center (Sener & Savarese 2018): repeatedly add the row farthest from all chosen.

    Returns chosen row indices in pick order. Cost O(n x budget x d), one matvec per pick.
    """
    n = x.shape[0]
    budget = min(budget, n)
    if budget <= 0:
        return np.zeros(0, dtype=np.int64)
    chosen = [first]
    near = x @ x[first]  # max cosine to the chosen set
    near[first] = np.inf
    for _ in range(budget - 1):
        j = int(near.argmin())
        chosen.append(j)
        np.maximum(near, x @ x[j], out=near)
        near[j] = np.inf
    return np.asarray(chosen, dtype=np.int64)


def facility_location(x: np.ndarray, budget: int, *, chunk: int = 2048) -> np.ndarray:
    """Lazy greedy facility location: maximize sum_i max_{j in S} max(cos(i, j), 0).

    Each pick maximizes the coverage gain; gains only shrink (submodular), so a stale heap entry
    is re-evaluated only when it reaches the top (Minoux's lazy greedy). Gains cost one matvec
    each; the first pass costs O(n^2 d) computed in ``chunk``-row blocks (no n x n matrix): use
    this on up to ~20k rows per group.
    """
    n = x.shape[0]
    budget = min(budget, n)
    cover = np.zeros(n, dtype=np.float32)
    heap = []
    for lo in range(0, n, chunk):
        g = np.maximum(x[lo : lo + chunk] @ x.T, 0).sum(axis=1)
        heap.extend((-float(v), lo + i) for i, v in enumerate(g))
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap and len(chosen) < budget:
        _, j = heapq.heappop(heap)
        gain = float(np.maximum(np.maximum(x @ x[j], 0) - cover, 0).sum())
        if heap and gain < -heap[0][0] - 1e-9:
            heapq.heappush(heap, (-gain, j))
            continue
        chosen.append(j)
        np.maximum(cover, np.maximum(x @ x[j], 0), out=cover)
    return np.asarray(chosen, dtype=np.int64)
