"""Compiled access to a string column's UTF-8 bytes: buffers, decoding, hashing, threads, char classes.

The text kernels (shingles, exact-dedup keys, rule-filter statistics) all read the Arrow buffer of
a column directly: one ``uint8`` array of bytes and one ``int64`` array of row offsets, decoded in
numba without building a Python string per row. This module holds what they share.

Character classes come from the regex engine the polars expressions use (Rust ``regex``), evaluated
once on every code point, so a compiled kernel classifies exactly as ``str.count_matches(r"\\w")``
would. The table is built in ~0.6 s and cached on disk per polars version.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa

from curate.filters.jit import nb
from curate.models import cache_root

# Character-class bits of ``char_classes()``; each is the regex that defines it.
CLASS_PATTERNS: dict[str, str] = {
    "word": r"\w",
    "cjk": r"[\p{Han}\p{Hiragana}\p{Katakana}]",
    "letter": r"\p{L}",
    "alnum": r"[\p{L}\p{N}]",
    "digit": r"\p{Nd}",
    "space": r"\s",
    "upper": r"\p{Lu}",
    "lower": r"\p{Ll}",
    # control and format characters other than tab/newline/CR, private use, and U+FFFD
    "control": r"[[\p{Cc}\p{Cf}\p{Co}\x{FFFD}]--[\t\n\r]]",
}
BIT = {name: np.uint16(1 << k) for k, name in enumerate(CLASS_PATTERNS)}
WORD, CJK, LETTER, ALNUM, DIGIT, SPACE, UPPER, LOWER, CONTROL = BIT.values()
N_CODEPOINTS = 0x110000
DOTTED_I = 0x130  # the one code point whose lowercase is two code points ("i" + U+0307)


def utf8_buffers(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(bytes uint8, offsets int64) of a string column; nulls read as empty strings."""
    arr = texts.fill_null("").rechunk().to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():  # polars exports large_string; cast() costs a pyarrow.compute import
        arr = arr.cast(pa.large_string())
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(1, np.uint8)
    return data, offsets


def run_chunks(fn: Callable[[int, int], object], cum_work: np.ndarray, workers: int) -> None:
    """Call ``fn(lo, hi)`` over item ranges of about equal work, on ``workers`` threads.

    ``cum_work`` is the running total of work per item (length n + 1, e.g. CSR offsets). The
    kernels release the GIL (``nogil``), so threads give real parallelism without numba's
    ``parallel=True``, which costs seconds more to compile on every fresh checkout.
    """
    n = cum_work.size - 1
    parts = 1 if workers <= 1 or n < 64 else workers * 4
    bounds = np.searchsorted(cum_work, np.linspace(0, cum_work[-1], parts + 1), side="left")
    bounds[0], bounds[-1] = 0, n
    spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
    if len(spans) <= 1:
        for a, b in spans:
            fn(a, b)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda sp: fn(*sp), spans))


@nb.njit(inline="always")
def mix(x: np.uint64) -> np.uint64:
    """splitmix64 finalizer: spreads every input bit over all 64."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer over a uint64 array (new array)."""
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@nb.njit(inline="always")
def decode(data: np.ndarray, i: int) -> tuple[int, int]:
    """(code point, next byte index) of the UTF-8 character starting at byte ``i``."""
    b0 = np.int64(data[i])
    if b0 < 0x80:
        return b0, i + 1
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), i + 2
    if b0 < 0xF0:
        return ((b0 & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (
            np.int64(data[i + 2]) & 0x3F
        ), i + 3
    return (
        ((b0 & 0x07) << 18)
        | ((np.int64(data[i + 1]) & 0x3F) << 12)
        | ((np.int64(data[i + 2]) & 0x3F) << 6)
        | (np.int64(data[i + 3]) & 0x3F)
    ), i + 4


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + l)`` for every pair, without a Python loop."""
    lengths = lengths.astype(np.int64, copy=False)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    shift = np.repeat(starts.astype(np.int64) - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift


def _build_tables() -> tuple[np.ndarray, np.ndarray]:
    cps = np.arange(N_CODEPOINTS, dtype=np.uint32)
    valid = cps[(cps < 0xD800) | (cps >= 0xE000)]  # surrogates are not characters
    chars = pl.Series("c", [chr(c) for c in valid.tolist()])  # not numpy "U1": it drops "\x00"
    flags = pl.DataFrame({"c": chars}).select(
        *(pl.col("c").str.contains(f"^{p}$").alias(k) for k, p in CLASS_PATTERNS.items()),
        pl.col("c").str.to_lowercase().alias("low"),
    )
    cls = np.zeros(N_CODEPOINTS, dtype=np.uint16)
    for name in CLASS_PATTERNS:
        cls[valid[flags[name].to_numpy()]] |= BIT[name]
    low = flags["low"]
    single = (low.str.len_chars() == 1).to_numpy()
    lower = np.arange(N_CODEPOINTS, dtype=np.int32)
    lower[valid[single]] = np.array([ord(x) for x in low.filter(pl.Series(single)).to_list()], dtype=np.int32)
    return cls, lower


@lru_cache(maxsize=1)
def char_classes() -> tuple[np.ndarray, np.ndarray]:
    """``(classes uint16, lower int32)`` indexed by code point.

    ``classes`` holds the ``BIT`` flags of every code point; ``lower`` its lowercase when that is
    one code point (itself otherwise; U+0130 "İ", whose lowercase is two, is handled by the kernels).
    Cached under ``CURATE_CACHE`` (default ``~/.cache/curate``) per polars version, since the
    classes are whatever that polars' regex engine says.
    """
    path = cache_root() / "charclass" / f"polars-{pl.__version__}-v2.npz"
    try:
        with np.load(path) as z:
            return z["cls"], z["lower"]
    except (OSError, KeyError, ValueError):
        pass
    cls, lower = _build_tables()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, cls=cls, lower=lower)
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache only costs the rebuild next time
    return cls, lower
