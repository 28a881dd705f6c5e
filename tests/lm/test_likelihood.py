"""``curate.lm.answer_nll`` equals the one-row full-logits reference, whatever the batching."""

from __future__ import annotations

import numpy as np
import pytest

from curate.lm import answer_nll, clip, plan_batches
from tests.lm.reference import reference_nll

TEXTS = [
    ("民法商法农民专业合作社法第三十三条的内容是什么？", "农民专业合作社设理事长一名，可以设理事会。"),
    ("两个人想办理离婚，名下贷款买的房子怎么变更名字？", "房子写两个人的名字，该房子属于夫妻共同财产。"),
    ("Hello there", "General Kenobi."),
    ("", "只有回答，没有问题。"),
    ("一个很长的问题" * 20, "短答。"),
    ("一个很长的问题" * 20 + "，第二问", "另一个回答，比较长一些。"),  # shares a 100-token prefix
    ("一个很长的问题" * 20 + "？", ""),
]


def _rows(tok):
    return [
        (tok(q, add_special_tokens=False)["input_ids"], tok(a, add_special_tokens=False)["input_ids"])
        for q, a in TEXTS
    ]


@pytest.mark.parametrize("batch_tokens", [1, 64, 4096])
@pytest.mark.parametrize("share_prefix", [None, 4])
def test_matches_reference(tiny_lm, batch_tokens, share_prefix):
    model, tok = tiny_lm
    rows = _rows(tok)
    got = answer_nll(
        model, rows, batch_tokens=batch_tokens, logit_chunk=7, threads=1, share_prefix=share_prefix
    )
    for i, (c, a) in enumerate(rows):
        ref, n = reference_nll(model, c, a)
        assert got.tokens[i] == n
        assert got.nll[i] == pytest.approx(ref, rel=1e-5, abs=1e-4)
    assert got.tokens[3] == len(rows[3][1]) - 1  # empty context: the first token is not scored
    if share_prefix:
        assert got.forward_tokens < sum(len(c) + len(a) for c, a in rows)  # the shared prefix ran once


def test_empty_answer_scores_nothing(tiny_lm):
    model, _ = tiny_lm
    got = answer_nll(model, [([1, 2, 3], []), ([], [5])], threads=1)
    assert got.tokens.tolist() == [0, 0]
    assert np.isnan(got.mean).all()


def test_clip_keeps_answer_start_and_context_end():
    assert clip(list(range(10)), [100, 101, 102], max_answer=2, max_total=5) == ([7, 8, 9], [100, 101])
    assert clip([1, 2], [3, 4, 5], max_answer=None, max_total=3) == ([], [3, 4, 5])
    assert clip([1, 2], [3], max_answer=None, max_total=None) == ([1, 2], [3])


def test_batches_bounded_and_complete():
    lengths = [3, 50, 7, 7, 20, 1, 49]
    plan = plan_batches(lengths, batch_tokens=60, max_rows=3)
    assert sorted(i for b in plan for i in b) == list(range(len(lengths)))
    for b in plan:
        assert len(b) <= 3
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 60
