"""Rows -> ids and loss masks with SmolLM2's real chat template; truncation; documents; the cache."""

from __future__ import annotations

import json

import pytest

from curate.errors import TrainError
from curate.schema import chat_row, frame, text_row
from curate.train.cache import tokenize
from curate.train.data import ChatEncoder, Dropped, Encoded

TOOLS = json.dumps(
    [
        {
            "name": "get_weather",
            "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
)


def trained_text(tok, e: Encoded) -> list[str]:
    """The trained spans, decoded, in order."""
    spans, cur = [], []
    for i, m in zip(e.ids, e.mask, strict=False):
        if m:
            cur.append(i)
        elif cur:
            spans.append(tok.decode(cur))
            cur = []
    if cur:
        spans.append(tok.decode(cur))
    return spans


def test_multi_turn_trains_every_assistant_turn_and_nothing_else(tokenizer):
    row = chat_row(
        [
            ("user", "Hi there"),
            ("assistant", "Hello! How can I help?"),
            ("user", "Tell me a joke"),
            ("assistant", "Why did the chicken cross the road?"),
        ],
        system="Be brief.",
    )
    e = ChatEncoder(tokenizer, max_len=512).encode(row)
    assert isinstance(e, Encoded)
    assert trained_text(tokenizer, e) == [
        "Hello! How can I help?<|im_end|>\n",
        "Why did the chicken cross the road?<|im_end|>\n",
    ]
    full = tokenizer.decode(e.ids)
    assert full.startswith("<|im_start|>system\nBe brief.<|im_end|>")  # system rendered, not trained
    assert "Be brief" not in "".join(trained_text(tokenizer, e))
    assert e.n_targets == sum(e.mask)  # first token is never a target here


def test_last_turn_only(tokenizer):
    row = chat_row(
        [("user", "a"), ("assistant", "first answer"), ("user", "b"), ("assistant", "second answer")]
    )
    e = ChatEncoder(tokenizer, max_len=512, last_turn_only=True).encode(row)
    assert trained_text(tokenizer, e) == ["second answer<|im_end|>\n"]


def test_tools_and_tool_calls(tokenizer):
    row = chat_row(
        [
            ("user", "Weather in Paris?"),
            ("tool_call", '{"name": "get_weather", "arguments": {"city": "Paris"}}'),
            ("tool", '{"temp_c": 21}'),
            ("assistant", "It is 21 C in Paris."),
        ],
        tools=TOOLS,
    )
    e = ChatEncoder(tokenizer, max_len=512).encode(row)
    spans = trained_text(tokenizer, e)
    assert spans[0].startswith('{"name": "get_weather"') and spans[1] == "It is 21 C in Paris.<|im_end|>\n"
    full = tokenizer.decode(e.ids)
    assert "get_weather" in full.split("<|im_start|>user")[0]  # schema reaches the model via the system turn
    assert '<|im_start|>tool\n{"temp_c": 21}' in full  # the tool result is context, not target
    assert not any("temp_c" in s for s in spans)


def test_template_that_rewrites_history_fails_loudly(tokenizer):
    class Rewriting:  # renders earlier assistant turns differently once a later turn exists
        chat_template = "stub with tools"
        name_or_path = "rewriting-template"

        def apply_chat_template(self, msgs, tools=None, tokenize=False, add_generation_prompt=False):
            out = ""
            for i, m in enumerate(msgs):
                content = m["content"] if i == len(msgs) - 1 or m["role"] != "assistant" else "[hidden]"
                out += f"<|im_start|>{m['role']}\n{content}<|im_end|>\n"
            return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")

        def __call__(self, texts, add_special_tokens=False):
            return tokenizer(texts, add_special_tokens=add_special_tokens)

    row = chat_row([("user", "a"), ("assistant", "one"), ("user", "b"), ("assistant", "two")])
    with pytest.raises(TrainError, match="prefix property"):
        ChatEncoder(Rewriting(), max_len=512).encode(row)


def test_history_truncation_drops_oldest_exchanges_keeps_system_and_final(tokenizer):
    turns = []
    for k in range(8):
        turns += [("user", f"question number {k} " + "filler " * 20), ("assistant", f"answer number {k}")]
    row = chat_row(turns, system="SYSTEM PROMPT")
    full = ChatEncoder(tokenizer, max_len=10_000).encode(row)
    e = ChatEncoder(tokenizer, max_len=len(full.ids) // 2).encode(row)
    assert isinstance(e, Encoded) and len(e.ids) <= len(full.ids) // 2
    text = tokenizer.decode(e.ids)
    assert "SYSTEM PROMPT" in text and "answer number 7" in text and "question number 0" not in text
    assert e.dropped_exchanges >= 4
    assert trained_text(tokenizer, e)[-1] == "answer number 7<|im_end|>\n"
    # no partial exchange: every kept user question still has its answer
    kept = [k for k in range(8) if f"question number {k} " in text]
    assert kept == list(range(8 - len(kept), 8)) and all(f"answer number {k}" in text for k in kept)


def test_unfittable_and_answerless_rows_are_dropped_with_reasons(tokenizer):
    enc = ChatEncoder(tokenizer, max_len=16)
    long = chat_row([("user", "word " * 50), ("assistant", "ok")])
    assert isinstance(enc.encode(long), Dropped) and enc.encode(long).reason == "too_long"
    no_answer = chat_row([("user", "hello?")])
    assert enc.encode(no_answer).reason == "no_assistant_turn"


def test_documents_pack_into_blocks_with_eos_and_keep_the_remainder(tokenizer, tmp_path):
    docs = [text_row(f"Document {i}. " + "The law says this and that. " * (5 + i)) for i in range(6)]
    ts = tokenize(frame(docs), tokenizer, max_len=64, last_turn_only=False, cache_dir=tmp_path)
    n_tokens = sum(len(tokenizer(d["text"], add_special_tokens=False)["input_ids"]) + 1 for d in docs)
    assert int(ts.lengths.sum()) == n_tokens  # nothing lost: every token and EOS is in some block
    assert all(n == 64 for n in ts.lengths[:-1]) and 0 < ts.lengths[-1] <= 64
    assert ts.stats["text_last_block_tokens"] == int(ts.lengths[-1])
    eos = tokenizer.eos_token_id
    assert sum(int((ts.ids(i) == eos).sum()) for i in range(len(ts))) == len(docs)
    assert all(ts.mask(i).all() for i in range(len(ts)))  # every token is a target
    assert ts.row_ids(0)[0] == docs[0]["id"] and docs[-1]["id"] in ts.row_ids(len(ts) - 1)


def test_cache_is_reused_and_memory_mapped(tokenizer, chat_df, tmp_path):
    a = tokenize(chat_df, tokenizer, max_len=256, last_turn_only=False, cache_dir=tmp_path)
    files = sorted(tmp_path.glob("*.arrow"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    b = tokenize(chat_df, tokenizer, max_len=256, last_turn_only=False, cache_dir=tmp_path)
    assert files[0].stat().st_mtime_ns == mtime and b.stats == a.stats
    assert (a.ids(3) == b.ids(3)).all()
    assert not a.ids(0).flags.owndata  # a view into the mapped file, not a copy
    c = tokenize(chat_df, tokenizer, max_len=128, last_turn_only=False, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.arrow"))) == 2 and int(c.lengths.max()) <= 128
    assert a.stats["rows_in"] == chat_df.height == a.stats["examples"] + sum(a.stats["dropped"].values())
    assert len(a.stats["dropped_rows"]) == sum(a.stats["dropped"].values())


def test_tokenize_shortens_with_truncate_history_and_counts_it(tokenizer, tmp_path):
    turns = []
    for k in range(8):
        turns += [("user", f"question number {k} " + "filler " * 20), ("assistant", f"answer number {k}")]
    history = chat_row(turns, system="SYSTEM PROMPT")
    question = chat_row(
        [("user", "These are filler words. " * 60 + "So what is two plus two?"), ("assistant", "Four.")]
    )
    ts = tokenize(
        frame([history, question]), tokenizer, max_len=128, last_turn_only=False, cache_dir=tmp_path
    )
    assert len(ts) == 2 and ts.stats["truncated_rows"] == 2 and int(ts.lengths.max()) <= 128
    first, second = (tokenizer.decode(ts.ids(i)) for i in range(2))
    assert "SYSTEM PROMPT" in first and "answer number 7" in first and "question number 0" not in first
    assert "So what is two plus two?" in second  # the stage cut the start of the question, not the ask
    assert "<|im_start|>user\nThese are filler words." in second  # cut at a sentence boundary
    assert trained_text(tokenizer, Encoded(list(ts.ids(1)), list(ts.mask(1)), [])) == ["Four.<|im_end|>\n"]
