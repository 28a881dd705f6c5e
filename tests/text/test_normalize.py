"""One normalization: ``normalize.normalized`` and its per-character table, shared by the kernels."""

from __future__ import annotations

import unicodedata

import numpy as np
import polars as pl

from curate.text import normalize, shingles, textkey


def test_exact_keys_and_shingles_fold_characters_from_one_table() -> None:
    """textkey (dedup.exact) and shingles (dedup.minhash) read ``normalize.char_folds``: wherever a
    character folds to one character, both kernels fold it to the same one."""
    seq, nseq, _ = textkey.key_tables(True, "keep")
    fold, _ = shingles.char_tables(True)
    one = nseq == 1
    assert np.array_equal(seq[one, 0], fold[one])
    folds = normalize.char_folds(True)
    assert folds[ord("Ａ")] == "a" and folds[ord("，")] == "," and folds[ord("中")] == "中"
    assert textkey.key_tables.cache_info().currsize >= 1 and normalize.char_folds.cache_info().hits >= 1


def test_the_table_is_normalized_one_character_at_a_time() -> None:
    # characters this Python's Unicode database knows (polars may know newer ones, e.g. U+1C89)
    chars = [chr(c) for c in range(0x20, 0x3100) if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    want = pl.select(normalize.normalized(pl.lit(pl.Series(chars)), whitespace="keep")).to_series()
    folds = normalize.char_folds(True)
    assert [folds[ord(c)] for c in chars] == want.to_list()
