"""``schema.content_key`` for a whole table in one compiled pass: the bytes every row id hashes.

The key of a row is its kind, its system prompt, its turns (role and content), its tools and its
text, each free-text field normalized by ``schema.normalize`` (the one fold table, ``fold_map``,
one character at a time, then whitespace collapsed as ``str.split`` does), joined by the
separators of ``schema``. Here the fields' UTF-8 buffers stream through that table into one output
buffer, so no Python string is built per row: only the 128-bit hash of each key is a Python call
(``formats.ids``). Measured on the 136k-document benchmark corpus (61 MB of text, two thirds
Chinese; 2 shared cores): ~0.15 s for the keys, against ~1.3 s for the polars NFKC + whitespace
chain it replaced.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa

from curate.schema import _SEP_FIELD, _SEP_ROLE, _SEP_TURN, fold_map
from curate.text.jit import nb
from curate.text.utf8 import PY_SPACE_TABLE, decode, utf8_buffers

_FIELD, _TURN, _ROLE = ord(_SEP_FIELD), ord(_SEP_TURN), ord(_SEP_ROLE)


@lru_cache(maxsize=1)
def fold_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``fold_map`` as arrays: ``(start, length, code points)``; start -1 = the character itself."""
    folds = fold_map()
    start = np.full(0x10000, -1, np.int32)
    length = np.zeros(0x10000, np.int32)
    cps: list[int] = []
    for c, s in folds.items():
        start[c], length[c] = len(cps), len(s)
        cps.extend(ord(ch) for ch in s)
    return start, length, np.asarray(cps or [0], np.int32)


@nb.njit(inline="always")
def _put(out, pos, cp, write):
    """UTF-8 of ``cp`` at ``out[pos]`` (only when ``write``); returns the next position."""
    if cp < 0x80:
        if write:
            out[pos] = cp
        return pos + 1
    if cp < 0x800:
        if write:
            out[pos] = 0xC0 | (cp >> 6)
            out[pos + 1] = 0x80 | (cp & 0x3F)
        return pos + 2
    if cp < 0x10000:
        if write:
            out[pos] = 0xE0 | (cp >> 12)
            out[pos + 1] = 0x80 | ((cp >> 6) & 0x3F)
            out[pos + 2] = 0x80 | (cp & 0x3F)
        return pos + 3
    if write:
        out[pos] = 0xF0 | (cp >> 18)
        out[pos + 1] = 0x80 | ((cp >> 12) & 0x3F)
        out[pos + 2] = 0x80 | ((cp >> 6) & 0x3F)
        out[pos + 3] = 0x80 | (cp & 0x3F)
    return pos + 4


@nb.njit(inline="always")
def _char(out, pos, start, pending, cp, space, cap):
    """Append one folded character: whitespace only marks a pending single space."""
    if cp < space.size and space[cp]:
        return pos, True
    if pending and pos > start:
        if pos < cap:
            out[pos] = 0x20
        pos += 1
    return _put(out, pos, cp, pos + 4 <= cap), False


@nb.njit(inline="always")
def _raw(data, lo, hi, out, pos, cap):
    for i in range(lo, hi):
        if pos < cap:
            out[pos] = data[i]
        pos += 1
    return pos


@nb.njit(inline="always")
def _fold(data, lo, hi, fstart, flen, fcps, space, out, pos, cap):
    """``schema.normalize`` of ``data[lo:hi]`` appended at ``pos``; returns the next position.

    Characters the table leaves alone (ASCII, nearly all CJK) are copied as their own bytes.
    """
    start, pending, i = pos, False, lo
    while i < hi:
        b = data[i]
        if b < 0x80:  # ASCII is its own fold
            if space[b]:
                pending = True
            else:
                if pending and pos > start:
                    if pos < cap:
                        out[pos] = 0x20
                    pos += 1
                pending = False
                if pos < cap:
                    out[pos] = b
                pos += 1
            i += 1
            continue
        cp, j = decode(data, i)
        if cp < 0x10000 and fstart[cp] >= 0:
            for k in range(fstart[cp], fstart[cp] + flen[cp]):
                pos, pending = _char(out, pos, start, pending, np.int64(fcps[k]), space, cap)
        elif cp < space.size and space[cp]:
            pending = True
        else:
            if pending and pos > start:
                if pos < cap:
                    out[pos] = 0x20
                pos += 1
            pending = False
            pos = _raw(data, i, j, out, pos, cap)
        i = j
    return pos


@nb.njit(inline="always")
def _sep(out, pos, b, cap):
    if pos < cap:
        out[pos] = b
    return pos + 1


@nb.njit(nogil=True, cache=True)
def _keys(kd, ko, sd, so, td, to, xd, xo, rd, ro, cd, co, turns, fstart, flen, fcps, space, out, out_o):
    """Every row's content key into ``out``; returns the bytes needed (> ``out.size``: call again)."""
    cap, pos = out.size, 0
    for r in range(ko.size - 1):
        pos = _raw(kd, ko[r], ko[r + 1], out, pos, cap)
        pos = _sep(out, pos, _FIELD, cap)
        pos = _fold(sd, so[r], so[r + 1], fstart, flen, fcps, space, out, pos, cap)
        pos = _sep(out, pos, _FIELD, cap)
        for t in range(turns[r], turns[r + 1]):
            if t > turns[r]:
                pos = _sep(out, pos, _TURN, cap)
            pos = _raw(rd, ro[t], ro[t + 1], out, pos, cap)
            pos = _sep(out, pos, _ROLE, cap)
            pos = _fold(cd, co[t], co[t + 1], fstart, flen, fcps, space, out, pos, cap)
        pos = _sep(out, pos, _FIELD, cap)
        pos = _fold(td, to[r], to[r + 1], fstart, flen, fcps, space, out, pos, cap)
        pos = _sep(out, pos, _FIELD, cap)
        pos = _fold(xd, xo[r], xo[r + 1], fstart, flen, fcps, space, out, pos, cap)
        out_o[r + 1] = pos
    return pos


class _Capsule:
    """An Arrow array seen only through the C data interface: polars then builds its Series
    without importing ``pyarrow.compute`` (~0.1-0.5 s per process)."""

    def __init__(self, arr: pa.Array) -> None:
        self.arr = arr

    def __arrow_c_array__(self, requested_schema: object = None) -> object:
        return self.arr.__arrow_c_array__(requested_schema)


def arrow_series(arr: pa.Array, name: str = "") -> pl.Series:
    """``pl.Series(name, arr)`` without the ``pyarrow.compute`` import polars' Arrow path makes
    (~0.05 s CPU, 0.1-0.25 s wall on a loaded machine). ``formats/read.py``'s messages column is
    the last such call in a rules-only run; with this there, a run never imports it."""
    return pl.Series(name, _Capsule(arr))


def _turn_columns(messages: pl.Series) -> tuple[pl.Series, pl.Series, np.ndarray]:
    """``(roles, contents, per-row turn offsets)`` of a ``list[struct{role, content}]`` column."""
    arr = messages.fill_null([]).rechunk().to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    # the offsets from the buffer: ``np.asarray(arr.offsets)`` would import pandas (~0.5 s)
    width = np.int64 if pa.types.is_large_list(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    offsets = offsets.astype(np.int64)
    # the turns of these rows only (also when ``arr`` is a slice): ``arr.flatten()`` without the
    # ``pyarrow.compute`` import it makes (~0.1 s; nulls were filled above, so the two agree)
    flat = arr.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    fields = dict(zip([f.name for f in flat.type], flat.flatten(), strict=True))
    return arrow_series(fields["role"]), arrow_series(fields["content"]), offsets - offsets[0]


def content_keys(df: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(bytes, offsets)``: row ``i``'s ``schema.content_key``, UTF-8, is ``bytes[off[i]:off[i+1]]``."""
    roles, contents, turns = _turn_columns(df["messages"])
    bufs = [utf8_buffers(df[c]) for c in ("kind", "system", "tools", "text")]
    bufs += [utf8_buffers(roles), utf8_buffers(contents)]
    (kd, ko), (sd, so), (td, to), (xd, xo), (rd, ro), (cd, co) = bufs
    fstart, flen, fcps = fold_arrays()
    out_o = np.zeros(df.height + 1, np.int64)
    size = sum(int(o[-1] - o[0]) for _, o in bufs) + 4 * df.height + 16
    for _ in range(2):  # a second pass only when folding grew the text past the first guess
        out = np.empty(size + 8, np.uint8)  # slack: a character is written whole or not at all
        need = _keys(kd, ko, sd, so, td, to, xd, xo, rd, ro, cd, co, turns, fstart, flen, fcps,
                     PY_SPACE_TABLE, out, out_o)
        if need <= size:
            return out, out_o
        size = need
    raise AssertionError("unreachable: the second pass is sized exactly")
