"""Repetition statistics over token lists (characters, words, lines), computed column-wise.

Tokens of every row are exploded into one long column with the row number beside it; an n-gram is a
64-bit polynomial hash of n consecutive token hashes (``h0*P^(n-1) + ... + h(n-1)``, wrapping), taken
with ``shift`` over the whole column and masked where it would cross into the next row. Counting then
runs as polars group/window operations. Measured on 2 shared cores with 2.3 M characters of Python
docs: char 10-gram repetition in ~0.6 s, against ~0.7-1.0 s for a Python ``Counter`` loop, and
without holding the GIL. A hash collision (p ~ 2^-64 per pair) could only raise a count by one.
"""

from __future__ import annotations

import polars as pl

_P = 1_000_003
_ROW_MIX = 0x9E3779B97F4A7C15
_ROW, _TOK, _GRAM, _LEN = "__r", "__tok", "__gram", "__len"


def explode_tokens(tokens: pl.Series) -> pl.DataFrame:
    """``(__r, __tok, __len)``: one row per token; a row with no tokens keeps one null token."""
    df = pl.DataFrame({_TOK: tokens}).with_row_index(_ROW).explode(_TOK, empty_as_null=True)
    return df.with_columns(pl.col(_TOK).str.len_chars().fill_null(0).alias(_LEN))


def _flat(tokens: pl.Series | pl.DataFrame) -> pl.DataFrame:
    """Accept a token-list Series or an already exploded frame (explode once, score many n)."""
    return tokens if isinstance(tokens, pl.DataFrame) else explode_tokens(tokens)


def with_ngrams(flat: pl.DataFrame, n: int) -> pl.DataFrame:
    """Add ``__gram`` (hash of the n-gram starting at each token; null where fewer than n remain)
    and ``__glen`` (characters in that n-gram's tokens)."""
    h = pl.col(_TOK).hash()
    acc, glen = h, pl.col(_LEN)
    for k in range(1, n):
        acc = acc * _P + h.shift(-k)
        glen = glen + pl.col(_LEN).shift(-k)
    valid = (pl.col(_ROW).shift(-(n - 1)) == pl.col(_ROW)) & pl.col(_TOK).is_not_null()
    # the row number is mixed into the hash, so "same n-gram in the same row" is one u64 comparison
    keyed = acc + pl.col(_ROW).cast(pl.UInt64) * _ROW_MIX
    return flat.with_columns(
        pl.when(valid).then(keyed).alias(_GRAM),
        pl.when(valid).then(glen).alias("__glen"),
    )


def _per_row(df: pl.DataFrame, *aggs: pl.Expr) -> pl.DataFrame:
    return df.group_by(_ROW, maintain_order=True).agg(*aggs).sort(_ROW)


def char_rep_ratio(texts: pl.Series, n: int) -> pl.Series:
    """Data-Juicer ``character_repetition_filter`` ratio (from BigScience ROOTS).

    Count every character n-gram; of the distinct n-grams, take the ``k = min(floor(sqrt(distinct)),
    #n-grams seen more than once)`` most frequent; the ratio is their occurrences over all n-gram
    occurrences. 0.0 for texts shorter than n.
    """
    flat = with_ngrams(explode_tokens(texts.str.split("")), n)
    lists = _per_row(flat, pl.col(_GRAM).drop_nulls())[_GRAM]
    e = pl.element()
    k = pl.min_horizontal(e.len().cast(pl.Float64).sqrt().floor().cast(pl.UInt32), (e > 1).sum())
    top = e.sort(descending=True).filter(pl.int_range(pl.len()) < k).sum()
    out = lists.list.eval(e.unique_counts()).list.eval(top / e.sum()).list.first()
    return out.fill_null(0.0).fill_nan(0.0).cast(pl.Float64)


def dup_gram_share(tokens: pl.Series | pl.DataFrame, n: int) -> pl.Series:
    """Share of n-gram occurrences whose n-gram occurs more than once in the row.

    With word tokens this is Data-Juicer's ``word_repetition_filter`` ratio. 0.0 with fewer than n tokens.
    """
    flat = with_ngrams(_flat(tokens), n)
    g = pl.col(_GRAM)
    dup = g.is_duplicated() & g.is_not_null()
    res = _per_row(flat.with_columns(dup.alias("__dup")), pl.col("__dup").sum(), g.count().alias("__n"))
    return _safe_div(res["__dup"], res["__n"])


def repeat_shares(tokens: pl.Series) -> pl.DataFrame:
    """Gopher-style duplicate shares of whole tokens (lines or paragraphs).

    ``frac``: tokens equal to an earlier token of the same row, over all tokens;
    ``char_frac``: characters in those repeated tokens over characters in all tokens.
    """
    flat = explode_tokens(tokens)
    rep = ~pl.struct(_ROW, _TOK).is_first_distinct() & pl.col(_TOK).is_not_null()
    res = _per_row(
        flat.with_columns(rep.alias("__rep")),
        pl.col("__rep").sum().alias("rep"),
        pl.col(_TOK).count().alias("n"),
        pl.col(_LEN).filter(pl.col("__rep")).sum().alias("rep_chars"),
        pl.col(_LEN).sum().alias("chars"),
    )
    return pl.DataFrame(
        {"frac": _safe_div(res["rep"], res["n"]), "char_frac": _safe_div(res["rep_chars"], res["chars"])}
    )


def top_ngram_char_frac(words: pl.Series | pl.DataFrame, n: int) -> pl.Series:
    """Gopher "top n-gram character fraction": characters covered by the most frequent word n-gram
    (its count times its characters; ties go to the longer n-gram) over characters in all words.
    Only n-grams seen at least twice count: a text with no repeated n-gram scores 0.0."""
    flat = with_ngrams(_flat(words), n)
    counted = (
        flat.filter(pl.col(_GRAM).is_not_null())
        .group_by(_GRAM)
        .agg(pl.col(_ROW).first(), pl.len().alias("c"), pl.col("__glen").first().alias("gl"))
        .filter(pl.col("c") > 1)
        .sort(_ROW, "c", "gl", descending=[False, True, True])
        .group_by(_ROW, maintain_order=True)
        .agg((pl.col("c") * pl.col("gl")).first().alias("top"))
    )
    chars = _per_row(flat, pl.col(_LEN).sum().alias("chars"))
    joined = chars.join(counted, on=_ROW, how="left").sort(_ROW)
    return _safe_div(joined["top"].fill_null(0), joined["chars"])


def dup_ngram_char_frac(words: pl.Series | pl.DataFrame, n: int) -> pl.Series:
    """Gopher "duplicate n-gram character fraction": characters of words covered by any n-gram
    occurrence that repeats an earlier n-gram of the row, over characters in all words. A word
    covered by several overlapping duplicates counts once (Rae et al. 2021, App. A)."""
    flat = with_ngrams(_flat(words), n)
    dup = (~pl.col(_GRAM).is_first_distinct() & pl.col(_GRAM).is_not_null()).cast(pl.Int8)
    # a duplicate n-gram starting at i covers words i..i+n-1: a backward window of n over the flags
    covered = dup.rolling_max(window_size=n, min_samples=1).cast(pl.Boolean)
    res = _per_row(
        flat.with_columns(covered.alias("__cov")),
        pl.col(_LEN).filter(pl.col("__cov")).sum().alias("dup"),
        pl.col(_LEN).sum().alias("chars"),
    )
    return _safe_div(res["dup"], res["chars"])


def _safe_div(num: pl.Series, den: pl.Series) -> pl.Series:
    out = pl.select(
        pl.when(den > 0).then(num.cast(pl.Float64) / den.cast(pl.Float64)).otherwise(0.0)
    ).to_series()
    return out.fill_null(0.0)
