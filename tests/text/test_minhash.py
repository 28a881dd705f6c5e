"""The one MinHash (``curate.text.minhash``): split's leak check and dedup.minhash share it."""

from __future__ import annotations

import polars as pl

from curate.fields import field_text
from curate.pipeline.stage import StageContext
from curate.schema import frame, text_row
from curate.stages.dedup.minhash import MinHashDedup
from curate.text.minhash import near_duplicate_groups
from tests.stages.mix.mixing_samples import law_frame


def _questions(n: int) -> list[str]:
    """Real LawBench questions (Chinese), long enough that one deleted character is a near copy."""
    q = law_frame().select(field_text("user")).to_series().unique(maintain_order=True)
    return [t for t in q.to_list() if len(t) >= 100][:n]


def test_leak_groups_join_chinese_near_copies() -> None:
    qs = _questions(60)
    copies = [q[: len(q) // 2] + q[len(q) // 2 + 1 :] for q in qs]  # one character deleted
    groups, _ = near_duplicate_groups(qs + copies, threshold=0.8, seed=3)
    n = len(qs)
    joined = sum(groups[i] == groups[n + i] for i in range(n))
    assert joined >= n - 2  # LSH may miss a pair near the threshold; a copy of a long text it does not
    assert all(groups[n + i] <= i for i in range(n))  # a group is named by its smallest index
    unrelated = near_duplicate_groups(qs[:2] + ["今天天气很好，我们去公园散步吧。"] * 2, seed=3)[0]
    assert unrelated.tolist()[2:] == [2, 2] and unrelated[0] != unrelated[1]  # two different questions


def test_split_and_dedup_find_the_same_pairs() -> None:
    """Both callers go through ``near_pairs``: same shingles, same LSH, same verified pairs."""
    qs = _questions(40)
    texts = qs + [q.replace("。", "，", 1) for q in qs[:20]]
    stage = MinHashDedup(
        {"field": "text", "shingle": "char", "shingle_chars": 5, "threshold": 0.8, "fp_weight": 0.1},
        ctx=StageContext(seed=3),
    )
    p = stage.near_pairs(frame([text_row(t) for t in texts]))
    groups, _ = near_duplicate_groups(pl.Series(texts), threshold=0.8, seed=3)
    for i, j in zip(p.i.tolist(), p.j.tolist(), strict=True):
        assert groups[i] == groups[j]
    assert p.i.size >= 20
