"""Repetition statistics over token lists (characters, words, lines), one compiled pass per row.

Polars does what it is good at (regex word splitting, hashing strings to ``uint64``); the tokens of
all rows are then flattened into numpy arrays (hashes, lengths, row offsets) once, and the counting
runs in numba kernels (``ngram_kernels``) that sort each row's n-gram hashes instead of grouping
strings. Characters are decoded from UTF-8 straight to code points, never materialised as strings.
Tokens and n-grams are compared by 64-bit hash: a collision (p ~ 2^-64 per pair) could only raise a
count by one. Measured on 136 k real documents (35.7 M characters) on 2 busy shared cores:
filter.repetition 12.8 s -> 5.6 s and filter.gopher_repetition 107 s -> 6.9 s against the earlier
polars group-by version, with identical scores on every document.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.filters import ngram_kernels as nk


@dataclass(frozen=True)
class Tokens:
    """Flattened token lists: row ``r`` owns ``hashes[offs[r]:offs[r+1]]`` (and ``lens``, characters)."""

    hashes: np.ndarray
    lens: np.ndarray
    offs: np.ndarray


def flatten(tokens: pl.Series | Tokens) -> Tokens:
    """Hash every token of a list-of-strings Series once; score many n on the result."""
    if isinstance(tokens, Tokens):
        return tokens
    counts = tokens.list.len().fill_null(0).to_numpy().astype(np.int64)
    vals = tokens.explode().drop_nulls()
    offs = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=offs[1:])
    hashes = vals.hash().to_numpy().astype(np.uint64, copy=False)
    lens = vals.str.len_chars().to_numpy().astype(np.int64)
    return Tokens(np.ascontiguousarray(hashes), lens, offs)


def _chars(texts: pl.Series) -> Tokens:
    texts = texts.fill_null("")
    boffs = np.zeros(texts.len() + 1, np.int64)
    np.cumsum(texts.str.len_bytes().to_numpy(), out=boffs[1:])
    buf = np.frombuffer("".join(texts.to_list()).encode("utf-8"), np.uint8)
    cps, offs = nk.utf8_codepoints(buf, boffs)
    return Tokens(nk.splitmix(cps), np.ones(cps.size, np.int64), offs)


def char_rep_ratio(texts: pl.Series, n: int) -> pl.Series:
    """Data-Juicer ``character_repetition_filter`` ratio (from BigScience ROOTS).

    Count every character (code point) n-gram; of the distinct n-grams, take the ``k =
    min(floor(sqrt(distinct)), #n-grams seen more than once)`` most frequent; the ratio is their
    occurrences over all n-gram occurrences. 0.0 for texts shorter than n.
    """
    t = _chars(texts)
    return pl.Series(nk.char_rep_ratio(t.hashes, t.offs, n))


def dup_gram_share(tokens: pl.Series | Tokens, n: int) -> pl.Series:
    """Share of n-gram occurrences whose n-gram occurs more than once in the row.

    With word tokens this is Data-Juicer's ``word_repetition_filter`` ratio. 0.0 with fewer than n tokens.
    """
    t = flatten(tokens)
    return pl.Series(nk.dup_gram_share(t.hashes, t.offs, n))


def _row_chars(t: Tokens) -> np.ndarray:
    csum = np.zeros(t.lens.size + 1, np.int64)
    np.cumsum(t.lens, out=csum[1:])
    return csum[t.offs[1:]] - csum[t.offs[:-1]]


def _share(num: np.ndarray, den: np.ndarray) -> pl.Series:
    out = np.zeros(num.size)
    np.divide(num, den, out=out, where=den > 0)
    return pl.Series(out)


def repeat_shares(tokens: pl.Series | Tokens) -> pl.DataFrame:
    """Gopher-style duplicate shares of whole tokens (lines or paragraphs).

    ``frac``: tokens equal to an earlier token of the same row, over all tokens;
    ``char_frac``: characters in those repeated tokens over characters in all tokens.
    """
    t = flatten(tokens)
    nrep, crep = nk.repeat_counts(t.hashes, t.lens, t.offs)
    return pl.DataFrame({"frac": _share(nrep, np.diff(t.offs)), "char_frac": _share(crep, _row_chars(t))})


def top_ngram_char_frac(words: pl.Series | Tokens, n: int) -> pl.Series:
    """Gopher "top n-gram character fraction": characters covered by the most frequent word n-gram
    (its count times its characters; ties go to the longer n-gram) over characters in all words.
    Only n-grams seen at least twice count: a text with no repeated n-gram scores 0.0."""
    t = flatten(words)
    return _share(nk.top_gram_chars(t.hashes, t.lens, t.offs, n), _row_chars(t))


def dup_ngram_char_frac(words: pl.Series | Tokens, n: int) -> pl.Series:
    """Gopher "duplicate n-gram character fraction": characters of words covered by any n-gram
    occurrence that repeats an earlier n-gram of the row, over characters in all words. A word
    covered by several overlapping duplicates counts once (Rae et al. 2021, App. A)."""
    t = flatten(words)
    return _share(nk.dup_gram_chars(t.hashes, t.lens, t.offs, n), _row_chars(t))
