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
    # assistant tokens are the training mask: content + "<|im_end|>" + "\n" per assistant turn
    assert m["score_tokens_assistant"].to_list() == [(6 + 2) + (4 + 2), 3]
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


def test_tool_rows_count_what_training_trains():
    """Issue 12: ``tool_call`` went to the template as an unknown role and was not counted as trained,
    so mix.ratio's assistant tokens for tool rows differed from the trainer's loss mask."""
    from pathlib import Path

    from curate.chat import ChatEncoder, Encoded
    from curate.formats import read_source
    from curate.models import load_tokenizer
    from curate.recipe import SourceSpec

    data = Path(__file__).resolve().parents[2] / "data"
    tools = read_source(SourceSpec(name="t", path="openai_tools.jsonl", format="openai"), base_dir=data).table
    tok = load_tokenizer("smollm2-135m")
    m = measure(tools, tokenizer=tok)
    enc = ChatEncoder(tok, max_len=10**9)
    for row, n, k in zip(
        tools.iter_rows(named=True), m["score_tokens_rendered"], m["score_tokens_assistant"], strict=True
    ):
        e = enc.encode(row)
        assert isinstance(e, Encoded) and (n, k) == (len(e.ids), sum(e.mask)), row["origin"]


def test_reuses_the_rendered_counts_truncate_history_wrote(mixed: pl.DataFrame, ctx):
    """Issue 11 item 6: mix.ratio re-rendered and re-encoded every row that truncate.history had
    just measured exactly; the column is now reused (shifted here to prove it is not recomputed)."""
    from curate.stages.format.truncate import TruncateHistory

    kept = TruncateHistory({"max_tokens": 4000}, ctx=ctx).apply(mixed).kept
    marked = kept.with_columns(pl.col("score_tokens_rendered") + 1000)
    m = measure(marked, tokenizer=byte_tokenizer())
    assert m["score_tokens_rendered"].to_list() == marked["score_tokens_rendered"].to_list()
    fresh = measure(kept.drop("score_tokens_rendered"), tokenizer=byte_tokenizer())
    assert fresh["score_tokens_rendered"].to_list() == kept["score_tokens_rendered"].to_list()
