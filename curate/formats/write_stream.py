"""Writing a table that arrives as frames in order (a sharded run's output, issue 16).

``write_chunks`` gives the bytes ``write`` would give for the concatenation (JSON and JSONL) while
holding one frame at a time; Parquet gets the same rows and values, appended frame by frame as
row groups. ``chunks`` is a factory: the JSONL lead row (``write._lead_typed``) is found in a first
pass over the frames (it is usually in the first one) and the file written in a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import orjson
import polars as pl

from curate.errors import SchemaError
from curate.formats.write import (
    _LIST_FIELDS,
    WRITE_ROWS,
    _check,
    _plain,
    _write_parquet,
    to_frame,
    to_records,
    write,
)

# The run's canonical table (``train.canonical.parquet``: every column, for notebooks, the report,
# rescore and ``curate train``), as the checkpoints (``pipeline.shards.CHECKPOINT``): LZ4 writes the
# 136k-document bench table in ~0.27 s CPU and reads it in ~0.07 s, where polars' default zstd
# took ~0.8 s and 0.19 s, for a file ~75% larger (47 vs 27 MB; the JSONL beside it is 60 MB).
OUTPUT_PARQUET: dict = {"compression": "lz4"}


def write_chunks(
    chunks: Callable[[], Iterator[pl.DataFrame]],
    path: str | Path,
    *,
    fmt: str,
    file_format: Literal["jsonl", "json", "parquet"] = "jsonl",
) -> Path:
    """``write`` for a table that arrives as frames in order (``chunks()`` yields them, and may be
    called again): one frame in memory at a time (issue 16). One frame is written by ``write``
    itself; for more, JSON(L) bytes equal ``write`` of the concatenation (records are per row, and
    the JSONL lead row is found first, usually in the first frame); Parquet holds the same rows and
    values, in other row groups (each frame's file, then one streaming ``sink_parquet``).
    """
    path = Path(path)
    it = chunks()
    first = next(it, None)
    second = next(it, None)
    if first is None or second is None:
        return write(first if first is not None else pl.DataFrame(), path, fmt=fmt, file_format=file_format)
    del first, second, it
    path.parent.mkdir(parents=True, exist_ok=True)
    if file_format == "parquet":
        return _parquet_chunks(chunks, path, fmt)
    if file_format not in ("jsonl", "json"):
        raise SchemaError(f"unknown file_format {file_format!r}", hint="valid: jsonl, json, parquet")
    lead = _lead_position(chunks, fmt) if file_format == "jsonl" else None
    dumps = orjson.dumps
    with open(path, "wb") as f:
        if file_format == "json":
            f.write(b"[\n")
        if lead is not None:
            n, i = lead
            row = _prepared(next(c for k, c in enumerate(chunks()) if k == n).slice(i, 1), fmt)
            f.write(b"".join(dumps(r, default=str) + b"\n" for r in to_records(row, fmt)))
        first_rec = True
        for k, df in enumerate(chunks()):
            df = _prepared(df, fmt)
            if lead is not None and k == lead[0]:
                df = pl.concat([df.slice(0, lead[1]), df.slice(lead[1] + 1)])
            framed = to_frame(df, fmt) if file_format == "jsonl" else None
            if framed is not None and all(_plain(t) for t in framed.schema.values()):
                framed.write_ndjson(f)  # the bytes orjson gives (``write._plain``), ~3x faster
                continue
            for start in range(0, df.height, WRITE_ROWS):
                records = to_records(df.slice(start, WRITE_ROWS), fmt)
                if file_format == "jsonl":
                    f.write(b"".join(dumps(r, default=str) + b"\n" for r in records))
                elif records:
                    sep = b"" if first_rec else b",\n"
                    f.write(sep + b",\n".join(dumps(r, default=str) for r in records))
                    first_rec = False
        if file_format == "json":
            f.write(b"\n]\n")
    return path


def _prepared(df: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """One frame checked for ``fmt`` and, for canonical, with null strings blanked (as ``write``)."""
    _check(df, fmt)
    if fmt == "canonical":
        strings = [c for c, t in df.schema.items() if t == pl.Utf8]
        df = df.with_columns(pl.col(strings).fill_null(""))
    return df


def _lead_position(chunks: Callable[[], Iterator[pl.DataFrame]], fmt: str) -> tuple[int, int] | None:
    """(frame, row) of the first row whose list field is non-empty (``_lead_typed``), or None when
    it is the very first row or there is none."""
    key = _LIST_FIELDS.get(fmt)
    if key is None:
        return None
    for n, df in enumerate(chunks()):
        df = _prepared(df, fmt)
        for start in range(0, df.height, WRITE_ROWS):
            records = to_records(df.slice(start, WRITE_ROWS), fmt)
            i = next((i for i, r in enumerate(records) if r[key]), None)
            if i is not None:
                return None if (n, start + i) == (0, 0) else (n, start + i)
    return None


def _parquet_chunks(chunks: Callable[[], Iterator[pl.DataFrame]], path: Path, fmt: str | None) -> Path:
    """Each frame to its own file (as ``fmt``, or the raw table when None), then appended, one file
    in memory at a time, as row groups of one file (pyarrow's writer; the types unified first,
    since a frame of single-turn rows has an empty ``history`` where later ones have pairs)."""
    import pyarrow.parquet as pq

    parts = path.parent / f".{path.name}.parts"
    parts.mkdir(parents=True, exist_ok=True)
    files = []
    for n, df in enumerate(chunks()):
        p = parts / f"{n:05d}.parquet"
        if fmt is None:
            df.write_parquet(p, **OUTPUT_PARQUET)
        else:
            _write_parquet(df, p, fmt)
        files.append(p)
    empty = pl.concat([pl.read_parquet(p, n_rows=0) for p in files], how="diagonal_relaxed")
    writer = None
    try:
        for p in files:
            table = pl.concat([empty, pl.read_parquet(p)], how="diagonal_relaxed").to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="lz4")
            writer.write_table(table)
            p.unlink()
    finally:
        if writer is not None:
            writer.close()
    parts.rmdir()
    return path


def write_table_chunks(chunks: Callable[[], Iterator[pl.DataFrame]], path: str | Path) -> Path:
    """The raw table (every column) as Parquet: ``DataFrame.write_parquet`` for one frame, else
    streamed like ``write_chunks``."""
    path = Path(path)
    it = chunks()
    first = next(it, None)
    if next(it, None) is None:
        (first if first is not None else pl.DataFrame()).write_parquet(path, **OUTPUT_PARQUET)
        return path
    del it, first
    return _parquet_chunks(chunks, path, None)
