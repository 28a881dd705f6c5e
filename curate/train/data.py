"""Canonical rows -> token ids and a loss mask.

Chat rows are encoded by ``curate.chat.ChatEncoder`` (the one renderer, shared with mixing, scoring
and ``truncate.history``; re-exported here). Documents (``kind=text``) become one token stream with
EOS after each document, cut into ``max_len`` blocks; the short last block is kept and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from curate.chat import ChatEncoder, ChatTurns, Dropped, Encoded
from curate.errors import TrainError

__all__ = ["ChatEncoder", "ChatTurns", "Dropped", "Encoded", "text_blocks"]


def text_blocks(
    docs: Iterable[tuple[str, str]], tokenizer: Any, *, max_len: int, batch_rows: int = 256
) -> Iterator[Encoded]:
    """Continued pretraining: ``(row_id, text)`` documents + EOS as one stream cut into blocks.

    Every token is a target. Blocks may span documents (EOS marks the seam), as in standard
    pretraining; the last, shorter block is yielded rather than dropped.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise TrainError("tokenizer has no EOS token to separate documents")
    buf: list[int] = []
    owners: list[tuple[int, str]] = []  # (start offset in buf, row id)
    pending: list[tuple[str, str]] = []

    def flush_docs() -> None:
        # split_special_tokens: a document quoting "<|im_end|>" is text, not an end of turn
        ids = tokenizer([t for _, t in pending], add_special_tokens=False, split_special_tokens=True)[
            "input_ids"
        ]
        for (rid, _), toks in zip(pending, ids, strict=False):
            owners.append((len(buf), rid))
            buf.extend(toks)
            buf.append(eos)
        pending.clear()

    def take(n: int) -> Encoded:
        ends = [s for s, _ in owners[1:]] + [len(buf)]
        rids = [rid for (start, rid) in owners if start < n]
        owners[:] = [(max(s - n, 0), rid) for (s, rid), end in zip(owners, ends, strict=False) if end > n]
        block = buf[:n]
        del buf[:n]
        return Encoded(block, [1] * len(block), rids, "text")

    for doc in docs:
        pending.append(doc)
        if len(pending) >= batch_rows:
            flush_docs()
            while len(buf) >= max_len:
                yield take(max_len)
    if pending:
        flush_docs()
    while len(buf) >= max_len:
        yield take(max_len)
    if buf:
        yield take(len(buf))
