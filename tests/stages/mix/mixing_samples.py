"""Real sample data and a tiny byte-level tokenizer for the mixing and truncation tests.

The samples come from installed dataset packages (see data/make_samples.py for source and license).
The byte tokenizer is a real ``tokenizers`` BPE with no merges: one token per UTF-8 byte plus the
ChatML specials, so a test can predict token counts exactly and it builds in milliseconds.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from curate.schema import chat_row, frame, text_row

DATA = Path(__file__).parent / "data"
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n'}}{% endif %}"
)


def _jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def law_frame(domain: str = "legal") -> pl.DataFrame:
    """136 LawBench QA rows (17 tasks x 8), Chinese, with long shared system prompts."""
    return frame(
        chat_row(
            r["messages"],
            system=r["system"],
            source="lawqa",
            origin=r["origin"],
            domain=domain,
            task=r["task"],
        )
        for r in _jsonl("lawqa_sample.jsonl")
    )


def chitchat_frame(domain: str = "general") -> pl.DataFrame:
    """60 multi-turn English chit-chat conversations (4 to 30 turns)."""
    return frame(
        chat_row(r["messages"], source="chitchat", origin=r["origin"], domain=domain)
        for r in _jsonl("chitchat_sample.jsonl")
    )


def law_text_frame() -> pl.DataFrame:
    """Documents for continued pretraining: the law answers as plain text rows."""
    rows = _jsonl("lawqa_sample.jsonl")
    return frame(
        text_row(r["messages"][1]["content"], source="lawtext", origin=r["origin"] + "#text", domain="legal")
        for r in rows
    )


@lru_cache(maxsize=1)
def byte_tokenizer() -> Any:
    """One token per UTF-8 byte, ChatML specials, a ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=CHATML)
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    return fast


class ByteHub:
    """A ModelHub stand-in that hands every name the byte tokenizer (injected via StageContext)."""

    def tokenizer(self, name: str) -> Any:
        return byte_tokenizer()
