"""Helpers every benchmark worker shares (stdlib + numpy only, so it runs in any peer venv).

``py_shingles`` is the shingle definition written the way a user of a Python MinHash library
would write it (regex tokens, NFKC, lowercase, word 5-grams, or character 4-grams for rows whose
letters are at least 30% CJK). It feeds rensa and datasketch and defines the brute-force truth.
"""

from __future__ import annotations

import json
import re
import sys
import time
import unicodedata
from pathlib import Path

CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
)
CJK_RE = re.compile(f"[{CJK}]")
WORD_TOKENS = re.compile(f"[{CJK}]|[^\\W{CJK}]+")
NON_WORD = re.compile(r"\W+")


def py_shingles(text: str, word_n: int = 5, char_n: int = 4, share: float = 0.3) -> list[str]:
    t = unicodedata.normalize("NFKC", text).lower()
    letters = NON_WORD.sub("", t)
    if letters and len(CJK_RE.findall(letters)) >= share * len(letters):
        s = letters
        return [s[i : i + char_n] for i in range(len(s) - char_n + 1)] if len(s) >= char_n else [s]
    toks = WORD_TOKENS.findall(t)
    if not toks:
        return []
    if len(toks) < word_n:
        return [" ".join(toks)]
    return [" ".join(toks[i : i + word_n]) for i in range(len(toks) - word_n + 1)]


def read_jsonl(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def components(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    """Union-find root per item (smallest index of its component)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(x) for x in range(n)]


class Timer:
    """``with Timer() as t: ...`` then ``t.s``: the worker's own timing of its core work."""

    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self.t0


def emit(result: dict) -> None:
    """The one line a worker prints: its JSON result, read by filters_bench.py."""
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
