"""Fixtures for the training tests: the real SmolLM2 tokenizer, real chat rows, a tiny random model.

The tiny model has SmolLM2's vocabulary and chat template but 2 layers of width 64, so the
mechanics (masks, packing, resume, merge) are tested in well under a second per step.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from curate.schema import chat_row, frame

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def tokenizer():
    from curate.models import load_tokenizer

    return load_tokenizer("smollm2-135m")


def _rows(source: str | None = None) -> list[dict]:
    out = []
    for line in (DATA / "chat_sample.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if source is None or r["source"] == source:
            out.append(chat_row(r["messages"], system=r["system"], source=r["source"], origin=r["origin"]))
    return out


@pytest.fixture(scope="session")
def chat_df() -> pl.DataFrame:
    """160 real rows: 120 chitchat conversations, 40 Chinese legal QA rows with a system prompt."""
    return frame(_rows())


@pytest.fixture(scope="session")
def chitchat_df() -> pl.DataFrame:
    return frame(_rows("chitchat"))


@pytest.fixture(scope="session")
def small_df(chitchat_df) -> pl.DataFrame:
    """48 chitchat conversations: enough for a few steps, cheap to tokenize."""
    return chitchat_df.head(48)


@pytest.fixture(scope="session")
def tok_cache(tmp_path_factory):
    """One tokenization cache for the session: the same rows are tokenized once, as in real re-runs."""
    return tmp_path_factory.mktemp("tokenized")


def tiny_model(tokenizer, *, seed: int = 0, layers: int = 2):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)


@pytest.fixture
def make_model(tokenizer):
    return lambda **kw: tiny_model(tokenizer, **kw)
