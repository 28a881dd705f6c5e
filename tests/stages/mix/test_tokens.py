"""Token measures: rendered with the chat template, assistant tokens counted exactly."""

from __future__ import annotations

import polars as pl
import pytest

from curate.schema import chat_row, frame, text_row
from curate.stages.mix.tokens import measure
from tests.stages.mix.mixing_samples import byte_tokenizer


def test_byte_counts_are_exact():
    turns = [("user", "héllo"), ("assistant", "法律"), ("user", "ok"), ("assistant", "fine")]
    df = frame([chat_row(turns, system="S"), text_row("abc")])
    m = measure(df, tokenizer=byte_tokenizer())
    # ChatML: 2 specials + role + "\n" + content + "\n" per message
    per = [
        (1, "system", "S"),
        (6, "user", "héllo"),
        (6, "assistant", "法律"),
        (2, "user", "ok"),
        (4, "assistant", "fine"),
    ]
    want = sum(2 + len(r.encode()) + 1 + n + 1 for n, r, _ in per)
    assert m["score_tokens_rendered"].to_list() == [want, 3]
    assert m["score_tokens_assistant"].to_list() == [6 + 4, 3]
    assert m["score_chars_assistant"].to_list() == [2 + 1 + 4, 3]


@pytest.mark.slow
def test_real_smollm2_counts_match_the_template(law: pl.DataFrame):
    from curate.models import load_tokenizer

    tok = load_tokenizer("smollm2-135m")
    sample = law.head(20)
    m = measure(sample, tokenizer=tok)
    for row, n in zip(sample.to_dicts(), m["score_tokens_rendered"], strict=True):
        conv = [{"role": "system", "content": row["system"]}, *row["messages"]]
        assert n == len(tok.apply_chat_template(conv, tokenize=True, return_dict=True)["input_ids"])
    assert (m["score_tokens_assistant"] < m["score_tokens_rendered"]).all()
