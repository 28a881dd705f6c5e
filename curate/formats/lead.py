"""Which rows a JSONL file must start with so that a chunked reader infers one schema for all of it.

``datasets.load_dataset("json")`` (and so LLaMA-Factory) infers the Arrow schema from the first
chunk of a JSONL file (10 MB by default) and casts every later chunk to it. A later chunk may lack
a column or a struct field (it is filled with null) but may not add one, nor give a key a value of
another type. OpenAI ``messages`` files break that rule by nature: plain rows have no ``tools`` and
their messages only ``role``/``content``; tool rows add ``tools``, ``tool_calls`` and
``tool_call_id``; and tool schemas are free-form JSON, so each tool adds its own
``parameters.properties`` keys. (``content: null`` beside strings is fine; ``arguments`` is always
a JSON string.) Rewriting the records would break the format (OpenAI wants ``tools`` an array and
messages without foreign keys), so instead the rows that between them show every key path and value
type of the file go first: the first chunk then has the union of all shapes, and every later chunk
is a subset. ``datasets`` >= 5 also turns a path whose objects differ in keys into its ``Json``
type, which the first chunk now triggers too. Checked with datasets 5.2.0 (installed) and 3.6.0
(in LLaMA-Factory's pinned range; loaded from a scratch folder): both read such a file in 16 KiB
chunks with plain rows first, and both fail on the same file written in plain order.

Only rows that can differ from the plain shape are examined (``tools`` set, or a ``tool_call`` /
``tool`` turn: one polars filter), so a file without tools costs nothing; the examined rows are
built as records once more (per-row Python, ~20 us a row). Typically 1-3 rows move; rows already in
the file's first 8 KiB stay put, so a small file or one that starts with its tool rows is unchanged.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import polars as pl

HEAD = 8 << 10  # rows in the file's first 8 KiB stay in place and count as seen
CHUNK = 16 << 10  # the smallest chunk datasets reads (its JSON block-size floor)
Shape = tuple[tuple[str, ...], str]


def shapes(obj: Any, path: tuple[str, ...] = ()) -> Iterator[Shape]:
    """Every (key path, JSON type) in ``obj``; list elements share the path step ``[]``; nulls are skipped
    (a null has no type, and a reader fills it into whatever type the path has)."""
    if obj is None:
        return
    if isinstance(obj, dict):
        yield path, "object"
        for k, v in obj.items():
            yield from shapes(v, (*path, k))
    elif isinstance(obj, list):
        yield path, "array"
        for v in obj:
            yield from shapes(v, (*path, "[]"))
    else:
        number = isinstance(obj, (int, float)) and not isinstance(obj, bool)
        yield path, "number" if number else type(obj).__name__


def covering_rows(records: list[dict[str, Any]], seen: set[Shape]) -> list[int]:
    """Indices of the records that add a shape not in ``seen`` (updated), in order."""
    out = []
    for i, r in enumerate(records):
        s = set(shapes(r))
        if not s <= seen:
            seen |= s
            out.append(i)
    return out


def openai_lead(
    df: pl.DataFrame, to_records: Callable[[pl.DataFrame], list[dict[str, Any]]], *, batch: int
) -> pl.DataFrame:
    """``df`` with the rows that cover every shape of its OpenAI records first; others keep their order.

    The rows in the file's first ``HEAD`` bytes stay where they are and count as seen (the smallest
    chunk ``datasets`` reads is 16 KiB), so a small file, or one whose tool rows are already at its
    start, is written unchanged. Only rows with tools or tool turns are examined: the plain shape
    (``role``/``content`` strings) is a subset of a tool row's.
    """
    if not df.height or "messages" not in df.columns:
        return df
    roles = pl.col("messages").list.eval(pl.element().struct.field("role"))
    tooly = roles.list.contains("tool_call") | roles.list.contains("tool")
    if "tools" in df.columns:
        tooly = tooly | (pl.col("tools").fill_null("").str.strip_chars() != "")
    idx = df.with_row_index("__i").filter(tooly.fill_null(False))["__i"].to_list()
    if not idx:
        return df
    head = to_records(df.head(64))
    sizes = [len(orjson.dumps(r, default=str)) + 1 for r in head]
    n_head = next((i for i, c in enumerate(itertools.accumulate(sizes)) if c > HEAD), len(head))
    seen: set[Shape] = set().union(*(set(shapes(r)) for r in head[:n_head]))
    lead = _cover(df, [i for i in idx if i >= n_head], seen, to_records, batch)
    if not lead:
        return df
    lead_bytes = sum(len(orjson.dumps(r, default=str)) + 1 for r in to_records(df[lead]))
    if lead_bytes + sum(sizes[:n_head]) > CHUNK:  # the head would leave the first chunk: cover it too
        lead = _cover(df, sorted(set(range(n_head)) | set(idx)), set(), to_records, batch)
    rest = df.with_row_index("__i").filter(~pl.col("__i").is_in(lead)).drop("__i")
    return pl.concat([df[lead], rest])


def _cover(
    df: pl.DataFrame,
    rows: list[int],
    seen: set[Shape],
    to_records: Callable[[pl.DataFrame], list[dict[str, Any]]],
    batch: int,
) -> list[int]:
    out: list[int] = []
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        out += [part[i] for i in covering_rows(to_records(df[part]), seen)]
    return out
