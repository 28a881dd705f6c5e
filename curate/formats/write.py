"""Canonical table -> records in a named format -> JSONL, JSON or Parquet file.

Rows a format cannot hold (a document in ShareGPT, tool turns in Alpaca) raise SchemaError naming
the first one, instead of being dropped: put the ``convert`` stage last to set them aside with a
reason. JSON arrays are written one record per line, readable and diff-friendly.

Every record of a file has the same keys with the same JSON types, so a reader that infers a schema
from the first rows (``datasets.load_dataset("json")`` and so LLaMA-Factory infer per 10 MB chunk
and fail on a later chunk with "Couldn't cast array of type string to null") reads the whole file:
an absent system prompt or tool schema is written ``""`` (LLaMA-Factory's converters read ``""``
as none and index these columns directly, so the key must exist), never ``null`` and never
omitted. The one exception is OpenAI ``tools``, an optional array in OpenAI's spec, omitted where a
row has none; an OpenAI JSONL file that mixes tool and plain rows starts with the few rows that show
every key path and type of the file (``curate.formats.lead``), so the first chunk's schema holds
every later row: tool schemas are free-form JSON and cannot be given one type otherwise. An empty
JSON list has no element type, so in JSONL the first row with a non-empty ``history`` (Alpaca,
prompt/response) or ``messages`` (canonical) is written first. ``shuffled`` gives the output's
default row order.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import orjson
import polars as pl

from curate.errors import SchemaError
from curate.formats.compat import incompatibility
from curate.formats.lead import openai_lead
from curate.formats.openai_messages import to_openai
from curate.formats.pairs import to_alpaca, to_prompt_response
from curate.formats.sharegpt import WRITE_TAGS
from curate.formats.spec import CHAT_FORMATS
from curate.schema import COLUMNS

WRITE_FORMATS = (*CHAT_FORMATS, "text")
_WRITERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "alpaca": to_alpaca,
    "prompt_response_history": to_prompt_response,
    "openai": to_openai,
}
_LIST_FIELDS = {"alpaca": "history", "prompt_response_history": "history", "canonical": "messages"}
_EMPTY_COLUMNS = {
    "alpaca": ("instruction", "input", "output", "system", "history"),
    "prompt_response_history": ("prompt", "response", "history", "system"),
    "openai": ("messages", "tools"),
}


def _check(df: pl.DataFrame, fmt: str) -> None:
    if fmt not in WRITE_FORMATS:
        raise SchemaError(f"unknown output format {fmt!r}", hint=f"valid: {', '.join(WRITE_FORMATS)}")
    if fmt == "canonical" or df.height == 0:
        return
    bad = df.select(pl.col("origin"), incompatibility(fmt).alias("why")).filter(pl.col("why").is_not_null())
    if bad.height:
        raise SchemaError(
            f"{bad.height} row(s) cannot be written as {fmt}: {bad['why'][0]} (first at {bad['origin'][0]})",
            hint=f"add the `convert` stage with to: {fmt} to set them aside, or pick another output format",
        )


def to_frame(df: pl.DataFrame, fmt: str, *, roles: dict[str, str] | None = None) -> pl.DataFrame | None:
    """``fmt`` records as a DataFrame built with expressions, for the formats that allow it.

    ShareGPT and text are one column expression each (~15x faster than per-row dicts on 100k
    rows); Alpaca, prompt/response/history and OpenAI regroup turns per row and return None.
    In ``text``, a chat row renders as its system prompt and turn contents, blank-line separated.
    """
    _check(df, fmt)
    el = pl.element()
    if fmt == "canonical":
        return df.select(*COLUMNS, *[c for c in df.columns if c not in COLUMNS])
    if fmt == "sharegpt":
        tags = {**WRITE_TAGS, **(roles or {})}
        conv = pl.col("messages").list.eval(pl.struct(
            el.struct.field("role").replace_strict(tags, return_dtype=pl.Utf8).alias("from"),
            el.struct.field("content").alias("value")))
        return df.select(conv.alias("conversations"), *_blank_if_null("system", "tools"))
    if fmt == "text":
        turns = pl.col("messages").list.eval(el.struct.field("content"))
        chat = pl.concat_list(pl.col("system").replace("", None), turns).list.drop_nulls().list.join("\n\n")
        return df.select(pl.when(pl.col("kind") == "text").then(pl.col("text")).otherwise(chat).alias("text"))
    return None


def _blank_if_null(*cols: str) -> list[pl.Expr]:
    return [pl.col(c).fill_null("") for c in cols]


def to_records(df: pl.DataFrame, fmt: str, *, roles: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Canonical rows as ``fmt`` records; ``roles`` renames ShareGPT tags (e.g. ``{assistant: "model"}``).

    Optional string fields are ``""`` when absent (see the module docstring); canonical records
    keep their nulls here (``write`` blanks them in JSON files).
    """
    framed = to_frame(df, fmt, roles=roles)
    if framed is not None:
        return framed.to_dicts()
    cols = [c for c in ("origin", "kind", "system", "messages", "tools", "text") if c in df.columns]
    convert = _WRITERS[fmt]
    records = [convert(r) for r in df.select(cols).iter_rows(named=True)]
    if fmt == "openai":  # an optional array in OpenAI's spec: omitted, not null
        for r in records:
            if r["tools"] is None:
                del r["tools"]
    else:
        for r in records:
            if r["system"] is None:
                r["system"] = ""
    return records


def shuffled(df: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """``df`` in a seeded random order: the same seed and rows give the same order.

    Mixing leaves rows grouped by domain with up-sampled copies side by side, so anything that
    reads the first N rows (LLaMA-Factory's ``max_samples``, streaming) would see one domain.
    A NumPy ``Generator`` permutation (its stream is stable across NumPy versions) takes 1.5 ms for
    100k rows; the gather of the nested ``messages`` column dominates: 0.4-0.7 s for 100k chit-chat
    rows (2 shared cores, 8 agents running), against 5.8-6.5 s to write them as Alpaca or ShareGPT JSONL.

    The frame is made one chunk first: a run's table arrives as several (its shards), and polars
    gathers a many-chunk string column by copying every string, a one-chunk one by copying only
    its 16-byte views (the strings stay where they are). On the bench corpus (115,597 documents,
    68 MB, two shards) the gather fell from 0.20-0.23 s CPU to 0.01 s (the rechunk itself: 0.002 s);
    writing the JSONL from the scattered strings costs ~0.03 s more; the files are byte-identical.
    """
    import numpy as np

    if df.height < 2:
        return df
    return df.rechunk()[np.random.default_rng(seed).permutation(df.height)]


def output_order(table: pl.DataFrame, side: dict[str, pl.DataFrame], shuffle: bool, *,
                 seed: int) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """The run's train table and side outputs in the order ``output/`` gets them.

    With ``shuffle`` the train table and the ``eval`` split are ``shuffled`` by ``seed`` (each
    independently); other side outputs (rows set aside by ``convert``) keep stage order for audit.
    """
    if not shuffle:
        return table, side
    side = {k: shuffled(v, seed=seed) if k == "eval" else v for k, v in side.items()}
    return shuffled(table, seed=seed), side


def _lead_typed(df: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """``df`` with the first row whose list field is non-empty moved to the front (JSONL only).

    ``[]`` tells a chunked reader nothing about its element type, so a file whose first chunk
    has only single-turn rows cannot take a later ``history`` of pairs; one row moved first fixes
    that for any file size. The order is otherwise unchanged. Records are built a slice at a time
    until the row is found (usually in the first slice).
    """
    if fmt == "openai":  # tool rows add keys and free-form schemas: lead with every shape (lead.py)
        return openai_lead(df, lambda d: to_records(d, "openai"), batch=WRITE_ROWS)
    key = _LIST_FIELDS.get(fmt)
    if key is None or not df.height:
        return df
    for start in range(0, df.height, WRITE_ROWS):
        records = to_records(df.slice(start, WRITE_ROWS), fmt)
        i = next((i for i, r in enumerate(records) if r[key]), None)
        if i is not None:
            lead = start + i
            if lead == 0:
                return df
            return pl.concat([df.slice(lead, 1), df.slice(0, lead), df.slice(lead + 1)])
    return df


WRITE_ROWS = 20_000


def _plain(dtype: pl.DataType) -> bool:
    """Strings, integers, booleans and lists/structs of them: polars' NDJSON writer gives the bytes
    orjson gives for these (checked on real rows and every JSON escape in ``tests/formats``), ~3x
    faster and without a dict per row. Floats are left to orjson (their shortest repr may differ)."""
    if isinstance(dtype, pl.List):
        return _plain(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return all(_plain(f.dtype) for f in dtype.fields)
    return dtype == pl.Utf8 or dtype == pl.Boolean or dtype == pl.Null or dtype.is_integer()


def write(df: pl.DataFrame, path: str | Path, *, fmt: str,
          file_format: Literal["jsonl", "json", "parquet"] = "jsonl") -> Path:
    """Write ``df`` as ``fmt`` records to ``path`` (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if file_format == "parquet":
        _write_parquet(df, path, fmt)
        return path
    if file_format not in ("jsonl", "json"):
        raise SchemaError(f"unknown file_format {file_format!r}", hint="valid: jsonl, json, parquet")
    _check(df, fmt)
    if fmt == "canonical":
        strings = [c for c, t in df.schema.items() if t == pl.Utf8]
        df = df.with_columns(pl.col(strings).fill_null(""))
    if file_format == "jsonl":
        df = _lead_typed(df, fmt)
        framed = to_frame(df, fmt)
        if framed is not None and all(_plain(t) for t in framed.schema.values()):
            framed.write_ndjson(path)
            return path
    dumps = orjson.dumps
    with open(path, "wb") as f:
        if file_format == "json":
            f.write(b"[\n")
        first = True
        # Records exist as Python dicts for one slice at a time (issue 16: the whole output as
        # dicts cost more memory than the run's table); the bytes are those of one pass.
        for start in range(0, df.height, WRITE_ROWS):
            records = to_records(df.slice(start, WRITE_ROWS), fmt)
            if file_format == "jsonl":
                f.write(b"".join(dumps(r, default=str) + b"\n" for r in records))
            elif records:
                f.write((b"" if first else b",\n") + b",\n".join(dumps(r, default=str) for r in records))
                first = False
        if file_format == "json":
            f.write(b"\n]\n")
    return path


def _write_parquet(df: pl.DataFrame, path: Path, fmt: str) -> None:
    out = to_frame(df, fmt)
    if out is None:
        records = to_records(df, fmt)
        if fmt == "openai":  # free-form JSON schemas do not fit one Parquet struct type: keep them as text
            for r in records:
                if r.get("tools") is not None and not isinstance(r["tools"], str):
                    r["tools"] = orjson.dumps(r["tools"]).decode()
        if records:
            out = pl.DataFrame(records, infer_schema_length=None)
        else:
            out = pl.DataFrame(schema=dict.fromkeys(_EMPTY_COLUMNS[fmt], pl.Utf8))
    out.write_parquet(path)
