"""A tokenizer's control tokens written literally inside data, found and encoded as plain text.

Why: ``tokenizer(rendered_chat)`` matches special-token strings anywhere in the text, so a user turn
that quotes ``<|im_end|>`` (prompt-injection corpora, chat logs that pasted a template, ShareGPT rows
about LLMs) becomes a real end-of-turn token in the middle of the user's message: the model is taught
that turns can end there. The template's own markers must stay control tokens, so the encoder cannot
just pass ``split_special_tokens=True`` to the whole render. Instead it swaps each literal occurrence in
the message contents for a one-character sentinel before rendering (``shield``), then tokenizes the
render piecewise: plain pieces as usual, each sentinel as the literal string with
``split_special_tokens=True`` (``encode``). Rows without a literal special token take the old path.

The sentinels are characters of Unicode plane 15 (private use), which real text does not contain; a row
that does contain one is encoded unchanged (``shield`` returns None for it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# Control tokens of common chat templates (ChatML/Qwen/SmolLM, Llama 3, Gemma, Mistral, Phi, DeepSeek),
# for the filter when no tokenizer is named. ``<s>``/``</s>`` are left out: they are ordinary HTML-ish
# text far more often than injected control tokens.
COMMON = (
    r"<\|(?:im_start|im_end|endoftext|begin_of_text|end_of_text|start_header_id|end_header_id|eot_id|"
    r"eom_id|system|user|assistant|end|fim_prefix|fim_middle|fim_suffix|file_sep|repo_name|"
    r"begin▁of▁sentence|end▁of▁sentence|User|Assistant)\|>"
    r"|<(?:start_of_turn|end_of_turn)>|\[/?INST\]|\[/?SYSTEM_PROMPT\]|<｜[^｜<>]{1,40}｜>"
)
_BASE = 0xF0000  # first sentinel: plane-15 private use
_SENTINELS = re.compile("[\U000f0000-\U000fffff]")


def tokens_of(tokenizer: Any) -> list[str]:
    """The tokenizer's special tokens as strings (added tokens marked special, plus the named ones)."""
    found = {t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special}
    found.update(getattr(tokenizer, "all_special_tokens", []) or [])
    return sorted((t for t in found if t and t.strip()), key=len, reverse=True)


def pattern(tokens: Sequence[str] | None = None) -> str:
    """A regex matching any of ``tokens`` (longest first), or the COMMON control tokens when None."""
    if tokens is None:
        return COMMON
    return "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))


class Shield:
    """Swap literal special tokens in message contents for sentinels, and encode renders piecewise."""

    def __init__(self, tokenizer: Any):
        self.tok = tokenizer
        self.tokens = tokens_of(tokenizer)
        self._re = re.compile(pattern(self.tokens)) if self.tokens else None
        self._index = {t: i for i, t in enumerate(self.tokens)}
        self._literal: dict[int, list[int]] = {}

    def count(self, texts: Sequence[str | None]) -> int:
        """How many literal special tokens ``texts`` contain."""
        if self._re is None:
            return 0
        return sum(len(self._re.findall(t)) for t in texts if t)

    def shield(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Messages with every literal special token replaced by its sentinel; None when there is none."""
        if self._re is None:
            return None
        contents = [m.get("content") for m in messages if isinstance(m.get("content"), str)]
        if not any(self._re.search(c) for c in contents) or any(_SENTINELS.search(c) for c in contents):
            return None
        sub = self._re.sub
        return [
            {**m, "content": sub(lambda x: chr(_BASE + self._index[x.group(0)]), m["content"])}
            if isinstance(m.get("content"), str)
            else m
            for m in messages
        ]

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of rendered ``texts``; sentinels become the literal token's plain-text ids."""
        pieces = [_SENTINELS.split(t) for t in texts]
        marks = [_SENTINELS.findall(t) for t in texts]
        flat = [p for ps in pieces for p in ps]
        ids = iter(self.tok(flat, add_special_tokens=False)["input_ids"]) if flat else iter(())
        out = []
        for ps, ms in zip(pieces, marks, strict=True):
            row: list[int] = []
            for k in range(len(ps)):
                row += next(ids)
                if k < len(ms):
                    row += self._literal_ids(ord(ms[k]) - _BASE)
            out.append(row)
        return out

    def _literal_ids(self, k: int) -> list[int]:
        if k not in self._literal:
            enc = self.tok(self.tokens[k], add_special_tokens=False, split_special_tokens=True)
            self._literal[k] = list(enc["input_ids"])
        return self._literal[k]
