"""The one MinHash: shingles -> signatures -> LSH candidates -> exact Jaccard, as arrays.

``dedup.minhash`` (which rows to drop) and ``split``'s leak check (which rows must stay together)
both call ``near_pairs``; the compiled pieces are ``shingles.shingle_hashes`` and ``lsh``. Pairs
``(i, j)`` are row positions, ``i < j``; ``groups`` (optional) keeps pairs inside one group
(``scope: per_source``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from curate.text.dupclusters import by_components
from curate.text.lsh import band_keys, bucket_pairs, jaccard_pairs, optimal_bands, signatures, unique_pairs
from curate.text.shingles import Unit, shingle_hashes


@dataclass
class NearPairs:
    """Pairs ``i < j`` of row positions, their exact Jaccard (NaN when unverified), and the shingles."""

    i: np.ndarray
    j: np.ndarray
    sim: np.ndarray
    hashes: np.ndarray
    offsets: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)


def candidates(
    sig: np.ndarray, nonempty: np.ndarray, groups: np.ndarray, bands: int, rows: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Candidate pairs: identical signatures first (star to the first copy), then LSH on the rest."""
    n = sig.shape[0]
    docs = np.flatnonzero(nonempty)
    full = band_keys(sig[docs], 1, sig.shape[1], groups[docs], seed)[0]
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
) -> NearPairs:
    """Every pair of ``texts`` whose shingle sets reach ``threshold`` Jaccard (or share an LSH band,
    unverified). Cost: linear in shingles x ``num_perm`` (compiled, ``workers`` threads), one sort
    per band, one sort of each candidate's shingles to verify."""
    hashes, offsets, _ = shingle_hashes(
        texts,
        unit=unit,
        word_ngram=word_ngram,
        char_ngram=char_ngram,
        cjk_share_min=cjk_share_min,
        lowercase=lowercase,
        seed=seed,
        workers=workers,
    )
    sig = signatures(hashes, offsets, num_perm=num_perm, seed=seed, workers=workers)
    grp = np.zeros(texts.len(), dtype=np.int64) if groups is None else groups
    i, j, stats = candidates(sig, np.diff(offsets) > 0, grp, bands, rows, seed)
    sim = np.full(i.size, np.nan)
    if verify and i.size:
        sim = jaccard_pairs(hashes, offsets, i, j, workers=workers)
        ok = sim >= threshold
        i, j, sim = i[ok], j[ok], sim[ok]
    stats.update(bands=bands, rows_per_band=rows, verified_pairs=int(i.size) if verify else None)
    return NearPairs(i, j, sim, hashes, offsets, stats)


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
