"""MinHash signatures, LSH banding and exact Jaccard over candidate pairs, all numpy.

The pieces of ``dedup.minhash`` that touch every shingle, each a few whole-array operations:

* ``signatures``: ``num_perm`` hash functions ``h -> (a*h + b) >> 32`` (multiply-add-shift with
  random odd 64-bit ``a``; a strongly universal family, so ``P[min equal] = Jaccard``) applied to a
  2D block of shingles x permutations, min-reduced per document with ``np.minimum.reduceat``.
  Blocks are sized to stay in cache and run on threads (numpy releases the GIL).
* ``band_pairs``: documents whose ``rows`` consecutive signature values agree in some band.
* ``jaccard_pairs``: the exact Jaccard of the shingle sets of many pairs in one sort.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from curate.filters.shingles import mix64, ranges

BLOCK_SHINGLES = 4096  # rows of the (shingles x num_perm) block; 4096 x 128 x 8 B = 4 MiB
SMALL_BUCKET = 16  # buckets up to this size contribute all their pairs; larger ones a star + chain


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


def _block(h: np.ndarray, lo: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    m = np.multiply.outer(h, a)
    m += b
    m >>= np.uint64(32)
    return np.minimum.reduceat(m, lo, axis=0).astype(np.uint32)


def signatures(
    hashes: np.ndarray, offsets: np.ndarray, *, num_perm: int, seed: int, workers: int = 1
) -> np.ndarray:
    """``(n_docs, num_perm)`` uint32 MinHash signatures; a document with no shingles is all 0xFFFFFFFF."""
    n = offsets.size - 1
    a, b = permutations(num_perm, seed)
    sig = np.full((n, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    counts = np.diff(offsets)
    docs = np.flatnonzero(counts > 0)
    if docs.size == 0:
        return sig
    # Cut the documents into blocks of about BLOCK_SHINGLES shingles (one long doc is one block).
    cut = np.searchsorted(offsets[docs], np.arange(0, offsets[-1], BLOCK_SHINGLES), side="left")
    cut = np.unique(np.concatenate([cut, [docs.size]]))
    spans = [(int(cut[i]), int(cut[i + 1])) for i in range(cut.size - 1) if cut[i + 1] > cut[i]]

    def run(span: tuple[int, int]) -> None:
        d = docs[span[0] : span[1]]
        lo, hi = int(offsets[d[0]]), int(offsets[d[-1] + 1])
        sig[d] = _block(hashes[lo:hi], offsets[d] - lo, a, b)

    if workers > 1 and len(spans) > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, spans))
    else:
        for sp in spans:
            run(sp)
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


def jaccard_pairs(hashes: np.ndarray, offsets: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the shingle *sets* of documents ``i[p]`` and ``j[p]``, for all p at once.

    Shingles are 64-bit hashes, so "exact" holds up to a hash collision (odds ~ size^2 / 2^64).
    The sets of the documents involved are made unique once; then every pair's two sets are
    tagged with the pair number, sorted together, and equal neighbours counted.
    """
    if i.size == 0:
        return np.zeros(0, dtype=np.float64)
    docs, inv = np.unique(np.concatenate([i, j]), return_inverse=True)
    li, lj = inv[: i.size], inv[i.size :]
    counts = np.diff(offsets)[docs]
    h = hashes[ranges(offsets[docs], counts)]
    owner = np.repeat(np.arange(docs.size), counts)
    order = np.lexsort((h, owner))
    h, owner = h[order], owner[order]
    keep = np.concatenate([[True], (h[1:] != h[:-1]) | (owner[1:] != owner[:-1])])
    h, owner = h[keep], owner[keep]
    set_size = np.bincount(owner, minlength=docs.size)
    set_off = np.concatenate([[0], np.cumsum(set_size)])
    _, dense = np.unique(h, return_inverse=True)  # 64-bit hash -> small id, order kept
    dense = dense.astype(np.uint64)
    pair = np.arange(i.size, dtype=np.uint64) << np.uint64(32)
    a = dense[ranges(set_off[li], set_size[li])] + np.repeat(pair, set_size[li])
    b = dense[ranges(set_off[lj], set_size[lj])] + np.repeat(pair, set_size[lj])
    both = np.sort(np.concatenate([a, b]), kind="stable")
    same = both[1:] == both[:-1]
    inter = np.bincount((both[1:][same] >> np.uint64(32)).astype(np.int64), minlength=i.size)
    union = set_size[li] + set_size[lj] - inter
    return np.divide(inter, union, out=np.ones(i.size), where=union > 0)
