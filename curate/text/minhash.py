"""The one MinHash: shingles -> signatures -> LSH candidates -> exact Jaccard, as arrays.

``dedup.minhash`` (which rows to drop) and ``split``'s leak check (which rows must stay together)
both call ``near_pairs``; the compiled pieces are ``shingles.shingle_hashes`` and ``lsh``. Pairs
``(i, j)`` are row positions, ``i < j``; ``groups`` (optional) keeps pairs inside one group
(``scope: per_source``).

Memory: shingle hashes are 8 bytes per shingle plus 8 per token while they are built, i.e. ~16
bytes per CJK character against 3 in UTF-8, so holding them for every row peaked at ~5x the text
(issue 16). Signatures are therefore built ``chunk_bytes`` of text at a time, and only the rows of
candidate pairs are shingled again for verification: what stays for the whole corpus is the
signatures (4 x ``num_perm`` bytes a row) and the band keys (8 x ``bands`` bytes a row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from curate.text.dupclusters import by_components
from curate.text.lsh import band_keys, bucket_pairs, jaccard_pairs, optimal_bands, signatures, unique_pairs
from curate.text.shingles import Unit, shingle_hashes

CHUNK_BYTES = 64 << 20  # text shingled at once: ~350 MB of shingle scratch for CJK text, then freed


@dataclass
class NearPairs:
    """Pairs ``i < j`` of row positions, their exact Jaccard (NaN when unverified), and the shingles
    (CSR ``hashes``/``offsets``) of the rows in candidate pairs only: ``rows`` (sorted) are their
    positions, so row ``r``'s shingles are entry ``local(r)``."""

    i: np.ndarray
    j: np.ndarray
    sim: np.ndarray
    hashes: np.ndarray
    offsets: np.ndarray
    rows: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)

    def local(self, r: np.ndarray) -> np.ndarray:
        """Positions in ``hashes``/``offsets`` of rows ``r`` (each must be in a candidate pair)."""
        return np.searchsorted(self.rows, r)


def byte_chunks(texts: pl.Series, chunk_bytes: int) -> list[tuple[int, int]]:
    """Row ranges ``[a, b)`` of about ``chunk_bytes`` of UTF-8 each (at least one row each)."""
    n = texts.len()
    cum = texts.str.len_bytes().fill_null(0).cast(pl.Int64).cum_sum().to_numpy()
    out, a = [], 0
    while a < n:
        base = int(cum[a - 1]) if a else 0
        b = max(a + 1, int(np.searchsorted(cum, base + chunk_bytes, side="right")))
        out.append((a, min(b, n)))
        a = min(b, n)
    return out


def candidates(
    sig: np.ndarray, nonempty: np.ndarray, groups: np.ndarray, bands: int, rows: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Candidate pairs: identical signatures first (star to the first copy), then LSH on the rest."""
    n = sig.shape[0]
    docs = np.flatnonzero(nonempty)
    full = band_keys(sig if docs.size == n else sig[docs], 1, sig.shape[1], groups[docs], seed)[0]
    _, first, inv = np.unique(full, return_index=True, return_inverse=True)
    rep = docs[first]
    star_i, star_j = rep[inv], docs
    m = star_i != star_j
    left, right = [star_i[m]], [star_j[m]]
    keys = band_keys(sig[rep], bands, rows, groups[rep], seed)
    for b in range(bands):
        a, z = bucket_pairs(keys[b])
        left.append(rep[a])
        right.append(rep[z])
    i, j = np.concatenate(left), np.concatenate(right)
    i, j = unique_pairs(np.minimum(i, j), np.maximum(i, j), n)
    return i, j, {"identical_signatures": int(m.sum()), "candidate_pairs": int(i.size)}


def near_pairs(
    texts: pl.Series,
    *,
    threshold: float,
    bands: int,
    rows: int,
    num_perm: int = 128,
    unit: Unit = "auto",
    word_ngram: int = 5,
    char_ngram: int = 4,
    cjk_share_min: float = 0.3,
    lowercase: bool = True,
    verify: bool = True,
    groups: np.ndarray | None = None,
    seed: int = 0,
    workers: int = 1,
    chunk_bytes: int = CHUNK_BYTES,
) -> NearPairs:
    """Every pair of ``texts`` whose shingle sets reach ``threshold`` Jaccard (or share an LSH band,
    unverified). Cost: linear in shingles x ``num_perm`` (compiled, ``workers`` threads), one sort
    per band, one sort of each candidate's shingles to verify."""

    def shingles(t: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        h, off, _ = shingle_hashes(
            t,
            unit=unit,
            word_ngram=word_ngram,
            char_ngram=char_ngram,
            cjk_share_min=cjk_share_min,
            lowercase=lowercase,
            seed=seed,
            workers=workers,
        )
        return h, off

    n = texts.len()
    sig = np.empty((n, num_perm), dtype=np.uint32)
    nonempty = np.empty(n, dtype=bool)
    for a, b in byte_chunks(texts, chunk_bytes):
        h, off = shingles(texts.slice(a, b - a))
        sig[a:b] = signatures(h, off, num_perm=num_perm, seed=seed, workers=workers)
        nonempty[a:b] = np.diff(off) > 0
        del h, off
    grp = np.zeros(n, dtype=np.int64) if groups is None else groups
    i, j, stats = candidates(sig, nonempty, grp, bands, rows, seed)
    del sig
    need = np.unique(np.concatenate([i, j]))
    hashes, offsets = shingles(texts.gather(need))
    sim = np.full(i.size, np.nan)
    if verify and i.size:
        li, lj = np.searchsorted(need, i), np.searchsorted(need, j)
        sim = jaccard_pairs(hashes, offsets, li, lj, workers=workers)
        ok = sim >= threshold
        i, j, sim = i[ok], j[ok], sim[ok]
    stats.update(bands=bands, rows_per_band=rows, verified_pairs=int(i.size) if verify else None)
    return NearPairs(i, j, sim, hashes, offsets, need, stats)


def near_duplicate_groups(
    texts: pl.Series | list[str],
    *,
    threshold: float = 0.8,
    shingle_chars: int = 5,
    num_perm: int = 128,
    seed: int = 0,
    workers: int = 1,
) -> tuple[np.ndarray, int]:
    """Group id per text (the smallest index in its group) and the number of merges made.

    Character shingles (Chinese and Japanese have no spaces), exact-Jaccard verified, grouped
    transitively. This is ``split``'s leak check; it used to be a separate per-row Python MinHash.
    """
    s = texts if isinstance(texts, pl.Series) else pl.Series(texts, dtype=pl.Utf8)
    n = s.len()
    if n < 2:
        return np.arange(n, dtype=np.int64), 0
    bands, rows = optimal_bands(threshold, num_perm, fp_weight=0.1, fn_weight=0.9)
    p = near_pairs(
        s,
        threshold=threshold,
        bands=bands,
        rows=rows,
        num_perm=num_perm,
        unit="char",
        char_ngram=shingle_chars,
        seed=seed,
        workers=workers,
    )
    g = by_components(n, p.i, p.j, np.arange(n))
    return g.astype(np.int64), int(n - np.unique(g).size)
