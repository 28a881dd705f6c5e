"""Shingle hashing for near dedup, vectorized: one numpy array of 64-bit shingle hashes per corpus.

A document becomes the hashes of its word n-grams or character n-grams (Chinese, Japanese and
Korean have no spaces, so words would be whole clauses: they need characters). The result is a
CSR pair ``(hashes, offsets)``: document ``d`` owns ``hashes[offsets[d]:offsets[d+1]]``, in text
order and possibly repeated (MinHash is a min, so repeats cost time, not correctness; exact
Jaccard takes unique sets on the few rows it needs).

How: words are split and hashed by polars over the whole column; characters come from one UTF-32
buffer of the joined column. Each token gets a 64-bit hash and an n-gram is folded from ``n``
consecutive token hashes with a multiply-add, then mixed by the splitmix64 finalizer. A document
shorter than ``n`` tokens yields one shingle of all its tokens, so short texts still compare.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl

from curate.filters.dedup_common import CJK_RE

Unit = Literal["word", "char", "auto"]
_P = np.uint64(0x100000001B3)  # FNV prime: odd, so the fold is a bijection per step
_C1, _C2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer over a uint64 array (new array): spreads every input bit over 64."""
    x = x ^ (x >> np.uint64(30))
    x *= _C1
    x ^= x >> np.uint64(27)
    x *= _C2
    x ^= x >> np.uint64(31)
    return x


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + l)`` for every pair, without a Python loop."""
    lengths = lengths.astype(np.int64, copy=False)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    shift = np.repeat(starts.astype(np.int64) - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift


def _fold_ngrams(tok: np.ndarray, counts: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n-gram hashes from per-token hashes ``tok`` grouped by ``counts``; returns (hashes, per-doc count)."""
    counts = counts.astype(np.int64, copy=False)
    starts = np.cumsum(counts) - counts
    k = np.where(counts >= n, counts - n + 1, (counts > 0).astype(np.int64))
    pos = ranges(starts, k)
    width = np.repeat(np.minimum(counts, n), k)
    pad = np.concatenate([tok, np.zeros(n, dtype=np.uint64)])
    g = pad[pos] ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    for j in range(1, n):
        nxt = pad[pos + j]
        if (width <= j).any():
            nxt = np.where(width > j, nxt, np.uint64(0))
        g *= _P
        g += nxt
    return mix64(g), k


def _word_tokens(texts: pl.Series, seed: int) -> tuple[np.ndarray, np.ndarray]:
    toks = texts.str.extract_all(r"\w+")
    counts = toks.list.len().fill_null(0).to_numpy()
    flat = toks.explode().drop_nulls()
    return flat.hash(seed=seed).to_numpy(), counts


def _char_tokens(texts: pl.Series, seed: int) -> tuple[np.ndarray, np.ndarray]:
    clean = texts.str.replace_all(r"[\s\p{P}\p{S}]+", "")
    counts = clean.str.len_chars().fill_null(0).to_numpy()
    joined = clean.fill_null("").str.join("").item() or ""
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    return mix64(cps + np.uint64(seed & 0xFFFFFFFF) * _C2), counts


def cjk_share(texts: pl.Series) -> np.ndarray:
    """Share of non-space characters that are CJK, per row (0 for an empty row)."""
    frame = pl.DataFrame({"t": texts.fill_null("")}).select(
        cjk=pl.col("t").str.count_matches(CJK_RE),
        chars=pl.col("t").str.replace_all(r"\s+", "").str.len_chars(),
    )
    chars = frame["chars"].to_numpy().astype(np.float64)
    return np.divide(frame["cjk"].to_numpy(), chars, out=np.zeros_like(chars), where=chars > 0)


def shingle_hashes(
    texts: pl.Series,
    *,
    unit: Unit = "auto",
    word_ngram: int = 5,
    char_ngram: int = 4,
    cjk_share_min: float = 0.3,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(hashes uint64, offsets int64)`` of every text's shingle hashes.

    ``unit="auto"`` picks characters for a row whose CJK share is at least ``cjk_share_min`` and
    words otherwise. Texts should already be normalized (lowercase, NFKC); punctuation is ignored
    either way.
    """
    texts = texts.fill_null("")
    n = texts.len()
    if unit == "auto":
        use_char = cjk_share(texts) >= cjk_share_min
    else:
        use_char = np.full(n, unit == "char")
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (doc rows, hashes, counts)
    for is_char in (False, True):
        rows = np.flatnonzero(use_char == is_char)
        if rows.size == 0:
            continue
        sub = texts.gather(rows) if rows.size < n else texts
        if is_char:
            tok, counts = _char_tokens(sub, seed)
            h, k = _fold_ngrams(tok, counts, char_ngram, seed)
        else:
            tok, counts = _word_tokens(sub, seed)
            h, k = _fold_ngrams(tok, counts, word_ngram, seed)
        parts.append((rows, h, k))
    if len(parts) == 1 and parts[0][0].size == n:
        _, h, k = parts[0]
        return h, np.concatenate([[0], np.cumsum(k)]).astype(np.int64)
    per_doc = np.zeros(n, dtype=np.int64)
    for rows, _, k in parts:
        per_doc[rows] = k
    offsets = np.concatenate([[0], np.cumsum(per_doc)]).astype(np.int64)
    out = np.empty(int(offsets[-1]), dtype=np.uint64)
    for rows, h, k in parts:
        out[ranges(offsets[rows], k)] = h
    return out, offsets
