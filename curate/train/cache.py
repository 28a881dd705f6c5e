"""Tokenized examples on disk: an Arrow IPC file, memory-mapped, keyed by data + tokenizer + options.

Why a file: tokenizing with chat-template prefix checks costs ~1 ms a row, so a re-run (resume, a
new lr) should not pay it again; and memory-mapping means a large dataset's tokens stay in the page
cache instead of the Python heap, so RSS does not grow with the dataset. The key covers the row
contents, the tokenizer's vocabulary and chat template, and every option that changes the output.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

from curate.chat import ChatEncoder, ChatRenderer, Dropped, Encoded, truncate
from curate.train.data import text_blocks

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 3: literal special tokens encoded as text; blank answers untrained
SCHEMA = pa.schema(
    [
        ("input_ids", pa.list_(pa.int32())),
        ("mask", pa.list_(pa.int8())),
        ("row_ids", pa.list_(pa.string())),
        ("kind", pa.string()),
        ("n_targets", pa.int32()),
    ]
)
CONTENT = ("id", "kind", "system", "messages", "tools", "text")


class TokenizedSet:
    """Read-only, memory-mapped examples: ``ids(i)``, ``mask(i)`` are zero-copy numpy views."""

    def __init__(self, path: Path, stats: dict[str, Any]):
        self.path, self.stats = path, stats
        table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        self._table = table
        self._ids, self._mask, self._off = [], [], []
        for ids_chunk, mask_chunk in zip(
            table.column("input_ids").chunks, table.column("mask").chunks, strict=False
        ):
            self._ids.append(ids_chunk.values.to_numpy(zero_copy_only=True))
            self._mask.append(mask_chunk.values.to_numpy(zero_copy_only=True))
            self._off.append(ids_chunk.offsets.to_numpy())
        sizes = [len(o) - 1 for o in self._off]
        self._starts = np.cumsum([0, *sizes])
        self.lengths = np.concatenate([np.diff(o) for o in self._off]) if sizes else np.zeros(0, np.int64)
        self.n_targets = table.column("n_targets").to_numpy()

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def table(self) -> pa.Table:
        """The memory-mapped Arrow table (``input_ids``, ``mask``, ``row_ids``, ``kind``, ``n_targets``)."""
        return self._table

    def _loc(self, i: int) -> tuple[int, int, int]:
        c = int(np.searchsorted(self._starts, i, side="right") - 1)
        j = i - int(self._starts[c])
        return c, int(self._off[c][j]), int(self._off[c][j + 1])

    def ids(self, i: int) -> np.ndarray:
        c, a, b = self._loc(i)
        return self._ids[c][a:b]

    def mask(self, i: int) -> np.ndarray:
        c, a, b = self._loc(i)
        return self._mask[c][a:b]

    def row_ids(self, i: int) -> list[str]:
        return self._table.column("row_ids")[i].as_py()

    def kind(self, i: int) -> str:
        return self._table.column("kind")[i].as_py()


def write_dropped(path: Path, sets: dict[str, TokenizedSet | None]) -> None:
    """Every row that did not become an example, one JSON line each: split, id, reason, detail."""
    lines = [
        json.dumps({"split": name, **d}, ensure_ascii=False) + "\n"
        for name, ds in sets.items()
        if ds is not None
        for d in ds.stats["dropped_rows"]
    ]
    path.write_text("".join(lines), encoding="utf-8")


def fingerprint(df: pl.DataFrame, tokenizer: Any, options: dict[str, Any]) -> str:
    """Stable key of (row contents in order, tokenizer vocabulary + chat template, options)."""
    h = xxhash.xxh3_128()
    h.update(f"v{FORMAT_VERSION}|polars {pl.__version__}|{json.dumps(options, sort_keys=True)}".encode())
    cols = [c for c in CONTENT if c in df.columns]
    if df.height:
        h.update(df.select(cols).hash_rows(seed=7).to_numpy().tobytes())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    vocab = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    h.update(vocab.encode())
    h.update((getattr(tokenizer, "chat_template", None) or "").encode())
    return h.hexdigest()


def tokenize(
    df: pl.DataFrame,
    tokenizer: Any,
    *,
    max_len: int,
    last_turn_only: bool,
    cache_dir: Path,
    batch_rows: int = 512,
) -> TokenizedSet:
    """Encode every row once (cached) and return the memory-mapped examples plus stats.

    Stats count rows in, examples out, every dropped row by reason (ids listed), truncated rows
    and exchanges, and tokens; the trainer copies them into its report.
    """
    options = {"max_len": max_len, "last_turn_only": last_turn_only}
    key = fingerprint(df, tokenizer, options)
    path, meta = cache_dir / f"{key}.arrow", cache_dir / f"{key}.json"
    if path.exists() and meta.exists():
        log.info("tokenized data reused from %s", path)
        return TokenizedSet(path, json.loads(meta.read_text(encoding="utf-8")))
    cache_dir.mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {
        "rows_in": df.height,
        "examples": 0,
        "tokens": 0,
        "target_tokens": 0,
        "truncated_rows": 0,
        "dropped_exchanges": 0,
        "text_blocks": 0,
        "text_last_block_tokens": 0,
        "dropped": {},
        "dropped_rows": [],
    }
    reasons: Counter[str] = Counter()
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, SCHEMA) as writer:
        batch: list[Encoded] = []
        for item in _examples(df, tokenizer, max_len=max_len, last_turn_only=last_turn_only, stats=stats):
            if isinstance(item, Dropped) or item.n_targets == 0:
                d = (
                    item
                    if isinstance(item, Dropped)
                    else Dropped(",".join(item.row_ids), "no_trained_tokens")
                )
                reasons[d.reason] += 1
                stats["dropped_rows"].append({"id": d.row_id, "reason": d.reason, "detail": d.detail})
                continue
            stats["examples"] += 1
            stats["tokens"] += len(item.ids)
            stats["target_tokens"] += item.n_targets
            stats["dropped_exchanges"] += item.dropped_exchanges
            batch.append(item)
            if len(batch) >= batch_rows:
                writer.write_batch(_record_batch(batch))
                batch = []
        if batch:
            writer.write_batch(_record_batch(batch))
    stats["dropped"] = dict(reasons)
    os.replace(tmp, path)
    meta.write_text(json.dumps(stats, ensure_ascii=False), encoding="utf-8")
    return TokenizedSet(path, stats)


def _examples(
    df: pl.DataFrame, tokenizer: Any, *, max_len: int, last_turn_only: bool, stats: dict[str, Any]
) -> Iterator[Encoded | Dropped]:
    cols = [c for c in CONTENT if c in df.columns]
    chat = df.filter(pl.col("kind") == "chat").select(cols)
    if chat.height:
        chat, gone = _truncate_history(chat, tokenizer, max_len)
        yield from gone
        enc = ChatEncoder(tokenizer, max_len=max_len, last_turn_only=last_turn_only)
        for row in chat.iter_rows(named=True):
            e = enc.encode(row)
            if isinstance(e, Encoded):
                stats["truncated_rows"] += bool(row["__truncated"] or e.dropped_exchanges)
            yield e
    other = df.filter(~pl.col("kind").is_in(["chat", "text"]))
    for rid in other["id"].to_list():
        yield Dropped(str(rid), "unknown_kind")
    docs = df.filter((pl.col("kind") == "text") & (pl.col("text").fill_null("") != "")).select("id", "text")
    for rid in df.filter((pl.col("kind") == "text") & (pl.col("text").fill_null("") == ""))["id"].to_list():
        yield Dropped(str(rid), "empty_text")
    last: Encoded | None = None
    for block in text_blocks(docs.iter_rows(), tokenizer, max_len=max_len):
        stats["text_blocks"] += 1
        last = block
        yield block
    if last is not None and len(last.ids) < max_len:
        stats["text_last_block_tokens"] = len(last.ids)


def _truncate_history(chat: pl.DataFrame, tokenizer: Any, max_len: int) -> tuple[pl.DataFrame, list[Dropped]]:
    """Shorten over-length chats with ``curate.chat.truncate``, the algorithm ``truncate.history``
    uses (one rule everywhere), rendering with the tools schema exactly as the encoder will; rows it
    removes come back as ``Dropped`` with the stage's reason names mapped to training's."""
    tools = chat["tools"].to_list() if "tools" in chat.columns else None
    fit = truncate(
        ChatRenderer(tokenizer),
        chat["system"].to_list(),
        chat["messages"].to_list(),
        budget=max_len,
        tools=tools,
    )
    keep = [fit.kept(i) for i in range(chat.height)]
    reason = {"too_long": "too_long", "no_boundary": "too_long", "template_error": "template_error"}
    gone = [
        Dropped(str(rid), reason[tag], f"truncate.history: {tag}")
        for rid, tag, k in zip(chat["id"].to_list(), fit.tag, keep, strict=True)
        if not k
    ]
    kept = chat.with_columns(
        pl.Series("messages", fit.messages, dtype=chat.schema["messages"]),
        pl.Series("__truncated", [t != "none" for t in fit.tag], dtype=pl.Boolean),
    ).filter(pl.Series(keep, dtype=pl.Boolean))
    return kept, gone


def _record_batch(items: list[Encoded]) -> pa.RecordBatch:
    offsets = pa.array(np.concatenate([[0], np.cumsum([len(e.ids) for e in items])]).astype(np.int32))
    ids = pa.ListArray.from_arrays(
        offsets, pa.array(np.concatenate([np.asarray(e.ids, np.int32) for e in items]))
    )
    mask = pa.ListArray.from_arrays(
        offsets, pa.array(np.concatenate([np.asarray(e.mask, np.int8) for e in items]))
    )
    return pa.record_batch(
        [
            ids,
            mask,
            pa.array([e.row_ids for e in items], pa.list_(pa.string())),
            pa.array([e.kind for e in items], pa.string()),
            pa.array([e.n_targets for e in items], pa.int32()),
        ],
        schema=SCHEMA,
    )
