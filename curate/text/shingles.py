"""Shingle hashing for near dedup: one pass of compiled code over the column's UTF-8 bytes.

A document becomes the 64-bit hashes of its word n-grams or character n-grams (Chinese, Japanese
and Korean have no spaces, so "words" would be whole clauses: they need characters). The result
is a CSR pair ``(hashes, offsets)``: document ``d`` owns ``hashes[offsets[d]:offsets[d+1]]``, in
text order and possibly repeated (MinHash takes a min, so repeats cost time, not correctness;
exact Jaccard makes the sets unique on the rows it checks).

Why numba rather than polars expressions: shingling touches every character, and building
n-gram strings or exploding token lists materializes tens of millions of small objects. The
kernel decodes UTF-8 straight from the Arrow buffer, folds each character (NFKC on the Basic
Multilingual Plane, then lowercase, from one lookup table), classifies it (word, CJK, separator),
hashes tokens and folds ``n`` consecutive token hashes into a shingle hash, all without
allocating. Documents run on threads (the kernels release the GIL). A document shorter than
``n`` tokens yields one shingle of all its tokens, so short texts still compare.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Literal

import numpy as np
import polars as pl

from curate.text.jit import nb
from curate.text.normalize import char_folds
from curate.text.utf8 import CJK as CJK_BIT
from curate.text.utf8 import char_classes, decode, mix, run_chunks, utf8_buffers

Unit = Literal["word", "char", "auto"]
UNITS: dict[str, int] = {"word": 0, "char": 1, "auto": 2}
SEP, WORD, CJK = 0, 1, 2


@lru_cache(maxsize=2)
def char_tables(lowercase: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(fold, cls)`` for the Basic Multilingual Plane: folded code point and its class.

    ``fold`` is NFKC then lowercase where that yields one character (full-width "Ａ" -> "a");
    ``cls`` is WORD for letters, digits, marks and "_", CJK for Han and kana (not Hangul: see
    ``curate.text.cjk``), SEP otherwise.
    Built once per process (~0.1 s); code points above the BMP are classed in the kernel.
    """
    fold = np.arange(0x10000, dtype=np.int32)
    cls = np.zeros(0x10000, dtype=np.uint8)
    folds = char_folds(lowercase)  # the per-character ``normalize.normalized``, shared with textkey
    for c in range(0x10000):
        if 0xD800 <= c < 0xE000:
            continue
        ch = folds[c]
        if len(ch) == 1:
            fold[c] = ord(ch)
    for c in range(0x10000):
        f = int(fold[c])
        cat = unicodedata.category(chr(f)) if not 0xD800 <= f < 0xE000 else "Cs"
        if cat[0] in "LNM" or f == 0x5F:
            cls[c] = WORD
    cjk = (char_classes()[0] & CJK_BIT) != 0  # the one CJK table, all code points (curate.text.cjk)
    cls[cjk[fold] & (cls == WORD)] = CJK
    return fold, cls


@nb.njit(inline="always")
def _char(data: np.ndarray, i: int, fold: np.ndarray, cls: np.ndarray) -> tuple[int, int, int]:
    """(folded code point, class, next byte index)."""
    cp, j = decode(data, i)
    if cp < 0x10000:
        return fold[cp], cls[cp], j
    if 0x20000 <= cp < 0x40000:
        return cp, CJK, j
    if 0x1F000 <= cp < 0x1FB00:
        return cp, SEP, j
    return cp, WORD, j


@nb.njit(inline="always")
def _tokens(data, lo, hi, fold, cls, as_char, seed, out, pos):
    """Write token hashes of bytes ``[lo, hi)`` into ``out[pos:]`` (if given); return the count.

    Word mode: a token is a run of WORD characters, and each CJK character is its own token.
    Char mode: every WORD or CJK character is a token. Separators are dropped in both.
    """
    n = 0
    i = lo
    h = np.uint64(0)
    inword = False
    while i < hi:
        cp, c, i = _char(data, i, fold, cls)
        if c == WORD and not as_char:
            if not inword:
                h = np.uint64(seed) ^ np.uint64(0xCBF29CE484222325)
                inword = True
            h = (h ^ np.uint64(cp)) * np.uint64(0x100000001B3)
            continue
        if inword:
            if out.size:
                out[pos + n] = mix(h)
            n += 1
            inword = False
        if c != SEP:
            if out.size:
                out[pos + n] = mix(np.uint64(cp) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed))
            n += 1
    if inword:
        if out.size:
            out[pos + n] = mix(h)
        n += 1
    return n


@nb.njit(nogil=True, cache=True)
def _plan(data, offsets, fold, cls, unit, cjk_share_min, d0, d1, mode, ntok):
    """Per document in ``[d0, d1)``: its unit (0 word, 1 char) and token count."""
    empty = np.empty(0, np.uint64)
    for d in range(d0, d1):
        lo, hi = offsets[d], offsets[d + 1]
        as_char = unit == 1
        if unit == 2:
            cjk = 0
            letters = 0
            i = lo
            while i < hi:
                _, c, i = _char(data, i, fold, cls)
                cjk += c == CJK
                letters += c != SEP
            as_char = letters > 0 and cjk >= cjk_share_min * letters
        mode[d] = as_char
        ntok[d] = _tokens(data, lo, hi, fold, cls, as_char, 0, empty, 0)


@nb.njit(nogil=True, cache=True)
def _fill(data, offsets, fold, cls, mode, ntok, sh_off, nw, nc, seed, buf_off, buf, out, d0, d1):
    """Shingle hashes of documents ``[d0, d1)``: token hashes into ``buf``, n-gram folds into ``out``."""
    for d in range(d0, d1):
        t0 = buf_off[d]
        _tokens(data, offsets[d], offsets[d + 1], fold, cls, mode[d] == 1, seed, buf, t0)
        k = nc if mode[d] == 1 else nw
        w = min(ntok[d], k)
        for s in range(sh_off[d + 1] - sh_off[d]):
            g = np.uint64(seed) + np.uint64(w)
            for j in range(w):
                g = g * np.uint64(0x100000001B3) + buf[t0 + s + j]
            out[sh_off[d] + s] = mix(g)


def shingle_hashes(
    texts: pl.Series,
    *,
    unit: Unit = "auto",
    word_ngram: int = 5,
    char_ngram: int = 4,
    cjk_share_min: float = 0.3,
    lowercase: bool = True,
    seed: int = 0,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR ``(hashes uint64, offsets int64)`` of every text's shingle hashes, plus each row's unit.

    ``unit="auto"`` picks characters for a row whose letters are at least ``cjk_share_min`` CJK
    and words otherwise; the third array is 1 where a row used characters.
    """
    data, offsets = utf8_buffers(texts)
    fold, cls = char_tables(lowercase)
    seed = int(seed) & 0x7FFFFFFFFFFFFFFF
    n = offsets.size - 1
    mode, ntok = np.zeros(n, dtype=np.uint8), np.zeros(n, dtype=np.int64)
    code, share = UNITS[unit], float(cjk_share_min)
    run_chunks(lambda a, b: _plan(data, offsets, fold, cls, code, share, a, b, mode, ntok), offsets, workers)
    k = np.where(mode == 1, char_ngram, word_ngram)
    count = np.where(ntok >= k, ntok - k + 1, (ntok > 0).astype(np.int64))
    sh_off = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
    buf_off = np.concatenate([[0], np.cumsum(ntok)]).astype(np.int64)
    out = np.empty(int(sh_off[-1]), dtype=np.uint64)
    buf = np.empty(int(buf_off[-1]), dtype=np.uint64)
    run_chunks(
        lambda a, b: _fill(
            data,
            offsets,
            fold,
            cls,
            mode,
            ntok,
            sh_off,
            word_ngram,
            char_ngram,
            seed,
            buf_off,
            buf,
            out,
            a,
            b,
        ),
        offsets,
        workers,
    )
    return out, sh_off, mode
