"""MinHash signatures, LSH banding and exact Jaccard over candidate pairs (numpy and numba).

The pieces of ``dedup.minhash`` that touch every shingle or every document:

* ``signatures``: ``num_perm`` hash functions ``h -> (a*h + b) >> 32`` (multiply-add-shift with
  random odd 64-bit ``a``: a universal family, so ``P[min equal] ~= Jaccard``), min-reduced per
  document in a compiled loop.
* ``band_keys`` / ``bucket_pairs``: documents whose ``rows`` consecutive signature values agree
  in some band, by sorting one 64-bit key per band (whole-array numpy).
* ``jaccard_pairs``: the exact Jaccard of the shingle sets of many pairs (sorted-set merges).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from curate.text.jit import nb
from curate.text.utf8 import mix64, ranges, run_chunks

SMALL_BUCKET = 16  # buckets up to this size contribute all their pairs; larger ones a star + chain


@lru_cache(maxsize=64)
def optimal_bands(
    threshold: float, num_perm: int, *, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands*rows <= num_perm`` minimizing the weighted error of the S-curve.

    Two documents of Jaccard ``s`` become candidates with probability ``1 - (1 - s^r)^b``. The
    false-positive area is that curve integrated over ``s < threshold``, the false-negative area
    its complement over ``s > threshold``; the returned pair minimizes
    ``fp_weight*FP + fn_weight*FN``. A false positive only costs one exact-Jaccard check (and
    none survives verification), a false negative is a duplicate that stays, hence dedup.minhash
    weighs misses higher by default.
    """
    s_lo = np.linspace(0.0, threshold, 256)
    s_hi = np.linspace(threshold, 1.0, 256)
    best, best_err = (1, num_perm), np.inf
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = np.trapezoid(1 - (1 - s_lo**r) ** b, s_lo)
            fn = np.trapezoid((1 - s_hi**r) ** b, s_hi)
            err = fp_weight * fp + fn_weight * fn
            if err < best_err - 1e-12:
                best, best_err = (b, r), err
    return best


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` of each hash function: a odd, both uniform 64-bit, from ``seed``."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
    b = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True)
    return a, b


@nb.njit(nogil=True, cache=True)
def _signatures(hashes, offsets, a, b, out, d0, d1):
    num_perm = a.size
    acc = np.empty(num_perm, dtype=np.uint64)
    for d in range(d0, d1):
        acc[:] = 0xFFFFFFFF
        for s in range(offsets[d], offsets[d + 1]):
            h = hashes[s]
            for k in range(num_perm):
                v = (a[k] * h + b[k]) >> np.uint64(32)
                if v < acc[k]:
                    acc[k] = v
        for k in range(num_perm):
            out[d, k] = acc[k]


def signatures(
    hashes: np.ndarray, offsets: np.ndarray, *, num_perm: int, seed: int, workers: int = 1
) -> np.ndarray:
    """``(n_docs, num_perm)`` uint32 MinHash signatures; a document with no shingles is all 0xFFFFFFFF.

    A compiled loop (numba) over documents on ``workers`` threads: per (shingle, permutation) one
    multiply-add-shift and a min, with no temporaries. The same arithmetic as a 2D numpy block
    min-reduced with ``np.minimum.reduceat`` measured ~40x slower here, because numpy writes and
    re-reads the whole block several times.
    """
    a, b = permutations(num_perm, seed)
    sig = np.empty((offsets.size - 1, num_perm), dtype=np.uint32)
    run_chunks(lambda lo, hi: _signatures(hashes, offsets, a, b, sig, lo, hi), offsets, workers)
    return sig


def band_keys(sig: np.ndarray, bands: int, rows: int, salt: np.ndarray, seed: int) -> np.ndarray:
    """``(bands, n)`` uint64 keys: a random linear hash of each band's ``rows`` values, plus ``salt``."""
    rng = np.random.default_rng(seed + 1)
    mult = rng.integers(0, 2**64 - 1, size=(bands, rows), dtype=np.uint64, endpoint=True) | np.uint64(1)
    keys = np.empty((bands, sig.shape[0]), dtype=np.uint64)
    salt = mix64(salt.astype(np.uint64))
    for i in range(bands):
        k = salt.copy()
        for j in range(rows):
            k += sig[:, i * rows + j].astype(np.uint64) * mult[i, j]
        keys[i] = k
    return keys


def bucket_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of positions sharing a key (one band).

    A bucket of up to SMALL_BUCKET members yields all its pairs; a larger one (boilerplate) yields
    a star from its first member plus a chain, which keeps it connected at linear cost.
    """
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    start = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
    size = np.diff(np.concatenate([start, [k.size]]))
    multi = size > 1
    if not multi.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    g_start, g_size = start[multi], size[multi]
    t = ranges(g_start, g_size)
    t_end = np.repeat(g_start + g_size, g_size)
    t_small = np.repeat(g_size <= SMALL_BUCKET, g_size)
    left, right = [], []
    for d in range(1, SMALL_BUCKET):
        m = (t + d < t_end) & (t_small | (d == 1))
        if not m.any():
            break
        left.append(order[t[m]])
        right.append(order[t[m] + d])
    big = ~t_small & (t != np.repeat(g_start, g_size))
    if big.any():
        left.append(order[np.repeat(g_start, g_size)[big]])
        right.append(order[t[big]])
    i, j = np.concatenate(left), np.concatenate(right)
    return np.minimum(i, j), np.maximum(i, j)


def unique_pairs(i: np.ndarray, j: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop repeated pairs (the same pair found in several bands)."""
    code = np.unique(i.astype(np.int64) * n + j)
    return code // n, code % n


@nb.njit(nogil=True, cache=True)
def _unique_sets(hashes, offsets, docs, cap_off, out, sizes, t0, t1):
    """Sorted unique shingles of docs ``docs[t0:t1]`` into ``out[cap_off[t]:]``; sizes into ``sizes``."""
    for t in range(t0, t1):
        seg = np.sort(hashes[offsets[docs[t]] : offsets[docs[t] + 1]])
        m = 0
        for x in range(seg.size):
            if x == 0 or seg[x] != seg[x - 1]:
                out[cap_off[t] + m] = seg[x]
                m += 1
        sizes[t] = m


@nb.njit(nogil=True, cache=True)
def _intersections(sets, cap_off, sizes, li, lj, inter, p0, p1):
    for p in range(p0, p1):
        x, xe = cap_off[li[p]], cap_off[li[p]] + sizes[li[p]]
        y, ye = cap_off[lj[p]], cap_off[lj[p]] + sizes[lj[p]]
        c = 0
        while x < xe and y < ye:
            if sets[x] < sets[y]:
                x += 1
            elif sets[x] > sets[y]:
                y += 1
            else:
                c += 1
                x += 1
                y += 1
        inter[p] = c


def jaccard_pairs(
    hashes: np.ndarray, offsets: np.ndarray, i: np.ndarray, j: np.ndarray, *, workers: int = 1
) -> np.ndarray:
    """Exact Jaccard of the shingle *sets* of documents ``i[p]`` and ``j[p]``, for all p.

    Shingles are 64-bit hashes, so "exact" holds up to a hash collision (odds ~ size^2 / 2^64).
    Each involved document's shingles are sorted and made unique once; each pair is then a
    linear merge of two sorted arrays.
    """
    if i.size == 0:
        return np.zeros(0, dtype=np.float64)
    docs, inv = np.unique(np.concatenate([i, j]), return_inverse=True)
    li, lj = inv[: i.size].astype(np.int64), inv[i.size :].astype(np.int64)
    cap = np.diff(offsets)[docs]
    cap_off = np.concatenate([[0], np.cumsum(cap)]).astype(np.int64)
    sets = np.empty(int(cap_off[-1]), dtype=np.uint64)
    sizes = np.zeros(docs.size, dtype=np.int64)
    inter = np.zeros(i.size, dtype=np.int64)
    docs = docs.astype(np.int64)
    run_chunks(lambda a, b: _unique_sets(hashes, offsets, docs, cap_off, sets, sizes, a, b), cap_off, workers)
    pair_work = np.concatenate([[0], np.cumsum(sizes[li] + sizes[lj])])
    run_chunks(lambda a, b: _intersections(sets, cap_off, sizes, li, lj, inter, a, b), pair_work, workers)
    union = sizes[li] + sizes[lj] - inter
    return np.divide(inter, union, out=np.ones(i.size), where=union > 0)
