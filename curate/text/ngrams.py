"""Repetition statistics over token lists (characters, words, lines), one compiled pass per row.

Tokens come as flat numpy arrays (hashes, lengths, row offsets): words and characters straight from
the UTF-8 buffer (``textscan``), lines and paragraphs by hashing polars' split strings. The counting
runs in numba kernels (``ngram_kernels``) that count each row's n-gram hashes in a hash table, on
``workers`` threads over row ranges; no n-gram or character is ever materialised as a string.
Tokens and n-grams are compared by 64-bit hash: a collision (p ~ 2^-64 per pair) could only raise a
count by one. Measured on 136 k real documents (35.7 M characters) on 2 busy shared cores:
filter.repetition 12.8 s -> 5.6 s and filter.gopher_repetition 107 s -> 6.9 s against the earlier
polars group-by version, with identical scores on every document.

``repetition`` computes filter.repetition's three scores in one visit per row (characters, words
and lines hashed into per-thread buffers while the row is in cache): 0.33 s for that corpus on 2
quiet cores, against 0.73 s for the three separate passes with corpus-wide token arrays.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.text import ngram_kernels as nk
from curate.text.textscan import Tokens, row_sums, share
from curate.text.utf8 import char_classes, run_chunks, utf8_buffers


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


def per_row(kernel, t: Tokens, *args, workers: int = 1, lens: bool = False, dtype=np.float64) -> np.ndarray:
    """``kernel(hashes, [lens,] offs, *args)`` over row ranges on ``workers`` threads, joined.

    The kernels index tokens by the absolute offsets they are given, so a range of rows is just a
    slice of ``offs``; each range writes its own slice of the result.
    """
    out = np.zeros(t.offs.size - 1, dtype)

    def run(a: int, b: int) -> None:
        head = (t.hashes, t.lens) if lens else (t.hashes,)
        out[a:b] = kernel(*head, t.offs[a : b + 1], *args)

    run_chunks(run, t.offs, workers)
    return out


def char_rep_ratio(texts: pl.Series, n: int, *, workers: int = 1) -> pl.Series:
    """Data-Juicer ``character_repetition_filter`` ratio (from BigScience ROOTS).

    Count every character (code point) n-gram; of the distinct n-grams, take the ``k =
    min(floor(sqrt(distinct)), #n-grams seen more than once)`` most frequent; the ratio is their
    occurrences over all n-gram occurrences. 0.0 for texts shorter than n.
    """
    data, offs = utf8_buffers(texts)
    out = np.zeros(offs.size - 1)
    run_chunks(lambda a, b: nk.char_rep_ratio(data, offs, n, a, b, out), offs, workers)
    return pl.Series(out)


def repetition(texts: pl.Series, char_n: int, word_n: int, *, workers: int = 1) -> dict[str, np.ndarray]:
    """``char_rep_ratio(texts, char_n)``, ``dup_gram_share`` of the lowercased words (``word_n``)
    and ``repeat_shares(line_tokens(texts))["frac"]``, computed together in one visit per row."""
    data, offs = utf8_buffers(texts)
    cls, lower = char_classes()
    out = np.zeros((offs.size - 1, 3))
    run_chunks(lambda a, b: nk.repetition(data, offs, cls, lower, char_n, word_n, a, b, out), offs, workers)
    return {"char_rep_ratio": out[:, 0], "word_rep_ratio": out[:, 1], "dup_line_frac": out[:, 2]}


def dup_gram_share(tokens: pl.Series | Tokens, n: int, *, workers: int = 1) -> pl.Series:
    """Share of n-gram occurrences whose n-gram occurs more than once in the row.

    With word tokens this is Data-Juicer's ``word_repetition_filter`` ratio. 0.0 with fewer than n tokens.
    """
    return pl.Series(per_row(nk.dup_gram_share, flatten(tokens), n, workers=workers))


def _share(num: np.ndarray, den: np.ndarray) -> pl.Series:
    return pl.Series(share(num, den))


def repeat_shares(tokens: pl.Series | Tokens) -> pl.DataFrame:
    """Gopher-style duplicate shares of whole tokens (lines or paragraphs).

    ``frac``: tokens equal to an earlier token of the same row, over all tokens;
    ``char_frac``: characters in those repeated tokens over characters in all tokens.
    """
    t = flatten(tokens)
    nrep, crep = nk.repeat_counts(t.hashes, t.lens, t.offs)
    return pl.DataFrame(
        {"frac": _share(nrep, np.diff(t.offs)), "char_frac": _share(crep, row_sums(t.lens, t.offs))}
    )


def top_ngram_char_frac(words: pl.Series | Tokens, n: int, *, workers: int = 1) -> pl.Series:
    """Gopher "top n-gram character fraction": characters covered by the most frequent word n-gram
    (its count times its characters; ties go to the longer n-gram) over characters in all words.
    Only n-grams seen at least twice count: a text with no repeated n-gram scores 0.0."""
    t = flatten(words)
    top = per_row(nk.top_gram_chars, t, n, workers=workers, lens=True, dtype=np.int64)
    return _share(top, row_sums(t.lens, t.offs))


def dup_ngram_char_frac(words: pl.Series | Tokens, n: int, *, workers: int = 1) -> pl.Series:
    """Gopher "duplicate n-gram character fraction": characters of words covered by any n-gram
    occurrence that repeats an earlier n-gram of the row, over characters in all words. A word
    covered by several overlapping duplicates counts once (Rae et al. 2021, App. A)."""
    t = flatten(words)
    dup = per_row(nk.dup_gram_chars, t, n, workers=workers, lens=True, dtype=np.int64)
    return _share(dup, row_sums(t.lens, t.offs))
