"""ngrams' compiled kernels against plain-Python Counter definitions on real documents."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from curate.text import ngrams
from curate.text.textstats import lines, words

DOCS = Path(__file__).parents[1] / "data" / "dedup" / "real_docs.jsonl"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    base = pl.read_ndjson(DOCS)["text"].to_list()[:200]
    # real documents, plus looped and half-repeated variants so repeats exist, plus edge cases
    looped = [t + "\n" + t for t in base[:60]] + [t[: len(t) // 2] * 3 for t in base[60:120]]
    return [*base, *looped, "", "Hi!", "a\n\na\n\n b \nb", "é" * 30]


def _grams(toks: list, n: int) -> list[tuple]:
    return [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]


def _char_rep(text: str, n: int) -> float:
    c = Counter(_grams(list(text), n))
    if not c:
        return 0.0
    freq = sorted(c.values(), reverse=True)
    k = min(math.isqrt(len(freq)), sum(f > 1 for f in freq))
    return sum(freq[:k]) / sum(freq)


def _dup_share(toks: list[str], n: int) -> float:
    c = Counter(_grams(toks, n))
    tot = sum(c.values())
    return sum(v for v in c.values() if v > 1) / tot if tot else 0.0


def _top_chars(toks: list[str], n: int) -> float:
    chars = sum(map(len, toks))
    c = Counter(_grams(toks, n))
    rep = [(v, sum(map(len, g))) for g, v in c.items() if v > 1]
    return max(rep)[0] * max(rep)[1] / chars if rep and chars else 0.0


def _dup_chars(toks: list[str], n: int) -> float:
    seen, covered = set(), [False] * len(toks)
    for i, g in enumerate(_grams(toks, n)):
        if g in seen:
            covered[i : i + n] = [True] * n
        seen.add(g)
    chars = sum(map(len, toks))
    return sum(len(w) for w, cov in zip(toks, covered, strict=True) if cov) / chars if chars else 0.0


def _repeats(toks: list[str]) -> tuple[float, float]:
    seen, rep, rep_chars = set(), 0, 0
    for t in toks:
        if t in seen:
            rep, rep_chars = rep + 1, rep_chars + len(t)
        seen.add(t)
    chars = sum(map(len, toks))
    return (rep / len(toks) if toks else 0.0, rep_chars / chars if chars else 0.0)


def test_kernels_match_python_definitions(texts: list[str]) -> None:
    s = pl.Series(texts)
    toks = pl.select(words(pl.lit(s), lowercase=True)).to_series()
    ls = pl.select(lines(pl.lit(s))).to_series()
    flat = ngrams.flatten(toks)
    wl, ll = toks.to_list(), ls.to_list()
    for n in (1, 3, 10):
        assert ngrams.char_rep_ratio(s, n).to_list() == pytest.approx([_char_rep(t, n) for t in texts])
    for n in (1, 2, 5):
        assert ngrams.dup_gram_share(flat, n).to_list() == pytest.approx([_dup_share(w, n) for w in wl])
        assert ngrams.top_ngram_char_frac(flat, n).to_list() == pytest.approx([_top_chars(w, n) for w in wl])
        assert ngrams.dup_ngram_char_frac(flat, n).to_list() == pytest.approx([_dup_chars(w, n) for w in wl])
    sh = ngrams.repeat_shares(ls)
    want = [_repeats(x) for x in ll]
    assert sh["frac"].to_list() == pytest.approx([f for f, _ in want])
    assert sh["char_frac"].to_list() == pytest.approx([c for _, c in want])
    # the variants really exercise repeats
    assert sum(_dup_share(w, 5) > 0 for w in wl) > 50
