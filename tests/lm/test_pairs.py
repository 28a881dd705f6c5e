"""The pairs scoring uses are the tokens training trains on (``curate.chat.ChatEncoder``'s mask)."""

from __future__ import annotations

import itertools

import polars as pl

from curate.chat import ChatEncoder
from curate.lm.pairs import encode_pairs
from curate.models import load_tokenizer
from tests.stages.mix.mixing_samples import chitchat_frame, law_frame


def _runs(mask: list[int]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for bit, grp in itertools.groupby(mask):
        n = len(list(grp))
        if bit:
            out.append((pos, pos + n))
        pos += n
    return out


def test_every_turn_pair_is_a_training_span():
    tok = load_tokenizer("smollm2-135m")
    df = pl.concat([law_frame().head(5), chitchat_frame().head(5)], how="diagonal_relaxed")
    pairs = encode_pairs(df, tok, turns="all")
    enc = ChatEncoder(tok, max_len=100_000)
    for k, row in enumerate(df.iter_rows(named=True)):
        e = enc.encode(row)
        mine = [pairs.cond[p] for p in range(len(pairs)) if pairs.row[p] == k]
        spans = _runs(e.mask)
        assert len(mine) == len(spans)
        for (ctx, ans), (a, b) in zip(mine, spans, strict=True):
            assert ctx == e.ids[:a] and ans == e.ids[a:b]


def test_last_turn_and_alone_context():
    tok = load_tokenizer("smollm2-135m")
    df = chitchat_frame().head(3)
    last = encode_pairs(df, tok, turns="last")
    assert last.row.tolist() == [0, 1, 2]
    header = tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    assert all(ctx == header for ctx, _ in last.alone)
    assert [a for _, a in last.alone] == [a for _, a in last.cond]
