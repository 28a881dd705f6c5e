"""JSON Lines read a block of bytes at a time; text documents parsed natively by Arrow.

``files.read_jsonl`` turns every line into Python objects (orjson dict, str, tuple) that the
collector copies into lists and then into Arrow: on the 136k-document bench corpus (72 MB) that
loop is ~1 s of CPU and most of the read's ~1 GB of fresh pages. Here a ``text`` source's lines
are cut into newline-aligned blocks (``BLOCK`` bytes, decompressed) and each block goes to
``pyarrow.json`` with a one-field schema: the documents arrive as one Arrow string column and no
per-row Python object exists. Measured (2 shared cores, CPU s, bench corpus, ``curate run``):
see bench/README.md, "CLI path".

A block is taken natively only when Arrow provably reads it as the per-line path would: every
line starts with ``{`` (so no blank line is skipped and no non-object line is a document), Arrow
returns one row per line, the bytes are valid UTF-8 (Arrow does not check fields it skips), no
lone ``\\r`` (Arrow splits rows there), no ``NaN``/``Infinity`` (Arrow accepts them, orjson does
not), no line with more opening brackets than orjson's nesting limit, and every document is a
string (a null, missing or blank one becomes the same reject ``TextReader`` gives, in
``read._Collector.add_block``). Any other block, and every block of a source in another format,
goes through ``files.read_jsonl``'s per-line code unchanged, so a bad
line still becomes a reject with its file, line and reason. A damaged (truncated, corrupt)
compressed file is re-read per line from the first line not yet delivered, so what is recovered
and the ``damaged_file`` reject are exactly the per-line path's.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import polars as pl

from curate.formats import files
from curate.formats.files import BOM, Block, Item

BLOCK = 8 << 20  # bytes per parsed block: a few blocks fill a read part (``read.CHUNK_ROWS``)
FIRST_BLOCK = 256 << 10  # the first block is small: format detection reads it per line
DEPTH = 1024  # orjson's nesting limit (1,025 levels is a reject)


class _Capsule:
    """An Arrow array seen only through the C data interface (as ``text.normalize_keys`` does):
    polars then builds the Series without importing ``pyarrow.compute`` (~0.1 s per process)."""

    def __init__(self, arr: Any) -> None:
        self.arr = arr

    def __arrow_c_array__(self, requested_schema: object = None) -> object:
        return self.arr.__arrow_c_array__(requested_schema)


def arrow_series(arr: Any, name: str = "") -> pl.Series:
    """``pl.Series(name, arr)`` for a ``pyarrow.Array``, without the ``pyarrow.compute`` import."""
    return pl.Series(name, _Capsule(arr)).alias(name)  # the capsule path drops the name


class Native:
    """The field a file's blocks are parsed natively by (None: every line per line).

    ``read._read`` sets it once the file's format is known to be ``text`` with no record limit;
    blocks read before that (format detection's sample) stay on the per-line path.
    """

    def __init__(self, field: str | None = None) -> None:
        self.field = field


def _lines(data: bytes, first: int) -> Iterator[Item]:
    """``files.read_jsonl`` over one block whose first line is ``first``: the same items."""
    return files.jsonl_items(io.BytesIO(data), first)


def _shape_ok(data: bytes, lines: int) -> bool:
    """Every one of the ``lines`` lines starts with ``{`` (so none is blank, whitespace-led or a
    non-object), and none has more opening brackets than ``DEPTH`` (so none nests too deep).
    NumPy over the bytes: ~10 ms per 8 MB block, a tenth of ``bytes.count(b"\\n{")`` and friends."""
    arr = np.frombuffer(data, np.uint8)
    starts = np.flatnonzero(arr == 0x0A) + 1
    starts = np.concatenate(([0], starts[starts < len(arr)]))
    if len(starts) != lines or not (arr[starts] == 0x7B).all():
        return False
    opens = np.flatnonzero((arr == 0x7B) | (arr == 0x5B))
    if len(opens) - lines + 1 <= DEPTH:
        return True  # every line has one "{" of its own: none can hold more than DEPTH
    per_line = np.diff(np.searchsorted(opens, np.concatenate((starts, [len(arr)]))))
    return bool(per_line.max() <= DEPTH)


def _bare_literal(data: bytes) -> bool:
    """Whether some line holds ``NaN`` or ``Infinity`` as a value (Arrow takes them, orjson does
    not). Prose has both words in most 8 MB blocks, inside strings: a line where one follows
    ``:``, ``,`` or ``[`` is parsed with orjson to tell, ~1 line per block on the bench corpus."""
    for tok in (b"NaN", b"Infinity"):
        i, checked = data.find(tok), -1
        while i >= 0:
            j = i - 1
            while j >= 0 and data[j] in b" \t\r\n-":
                j -= 1
            if i > checked and j >= 0 and data[j] in b":,[":
                start = data.rfind(b"\n", 0, i) + 1
                checked = data.find(b"\n", i) % (len(data) + 1)
                try:
                    orjson.loads(data[start:checked])
                except orjson.JSONDecodeError:
                    return True
            i = data.find(tok, i + 1)
    return False


def native_text(data: bytes, field: str, lines: int) -> pl.Series | None:
    """The ``field`` of each of a block's ``lines`` lines (null where absent or null), or None when
    the block must be read per line."""
    import pyarrow as pa
    import pyarrow.json as pj

    if not data or not _shape_ok(data, lines):
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    if _bare_literal(data):
        return None
    try:
        pl.Series([data], dtype=pl.Binary).cast(pl.String)  # UTF-8 check, ~5 ms per 8 MB
        opts = pj.ParseOptions(explicit_schema=pa.schema([(field, pa.string())]),
                               unexpected_field_behavior="ignore", newlines_in_values=False)
        table = pj.read_json(io.BytesIO(data), parse_options=opts)
    except (pl.exceptions.PolarsError, pa.ArrowException, UnicodeDecodeError):
        return None
    if table.num_rows != lines:
        return None
    return arrow_series(table.column(0).combine_chunks(), "text")


def _blocks(path: Path) -> Iterator[bytes]:
    """Newline-aligned blocks of the decompressed file (the last may lack its newline)."""
    rest, size = b"", FIRST_BLOCK
    with files.open_binary(path) as f:
        while data := f.read(size):
            size = BLOCK
            cut = data.rfind(b"\n")
            if cut < 0:
                rest += data
                continue
            yield rest + data[:cut + 1] if rest else data[:cut + 1]
            rest = data[cut + 1:]
    if rest:
        yield rest


def read_jsonl_blocks(path: Path, native: Native) -> Iterator[Item]:
    """``files.read_jsonl``'s items, with whole blocks as one ``Block`` item where ``native`` allows.

    A ``Block`` item is ``(last line, Block, None, None)``; ``files.guarded`` counts its rows.
    """
    line = 1
    try:
        for data in _blocks(path):
            lines = data.count(b"\n") + (not data.endswith(b"\n"))
            text = None
            if native.field is not None:
                body = data[len(BOM):] if line == 1 and data.startswith(BOM) else data
                text = native_text(body, native.field, lines)
            if text is not None:
                yield line + lines - 1, Block(line, text, body), None, None
            else:
                yield from _lines(data, line)
            line += lines
    except files.damage_errors():
        # Re-read per line from the first line not delivered: the same recovery and reject as today.
        for item in files.read_jsonl(path):
            if item[0] >= line:
                yield item
