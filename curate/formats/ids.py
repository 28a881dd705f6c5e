"""``schema.content_id`` for a whole table at once, equal to it row for row.

``content_id`` hashes a row's ``content_key``: each free-text field folded by curate's one
normalization (``schema.fold_map`` per character, the table the dedup kernels use too) with
whitespace collapsed as ``str.split`` does. Per row in Python that costs ~3 µs for an ASCII
sentence and ~60 µs for a 1.7 KB Chinese legal answer. Here one compiled pass writes every row's
key into one buffer (``text.normalize_keys``) and only the 128-bit hash of each key is a Python
call. Measured on the 136k-document benchmark corpus (61 MB, two thirds Chinese; 2 shared cores,
CPU time): 0.45 s, against 1.35 s for the previous polars NFKC + whitespace-kernel chain (plus
its ~0.8 s pandas import, pulled in by ``pa.array`` on a NumPy array) and ~4 s for ``content_id``
on every row. The two paths agree exactly by construction (same table, same whitespace set);
tests check it on real text. Tables under ``min_rows`` rows use ``content_id`` directly: no
compiled kernel to load for a handful of rows.
"""

from __future__ import annotations

import itertools

import polars as pl
import xxhash

from curate.schema import content_id


def _python_ids(df: pl.DataFrame) -> list[str]:
    cols = df.select("kind", "system", "messages", "tools", "text")
    return [
        content_id(
            kind=r["kind"], system=r["system"], messages=r["messages"], tools=r["tools"], text=r["text"]
        )
        for r in cols.iter_rows(named=True)
    ]


def _columnar_ids(df: pl.DataFrame) -> list[str]:
    from curate.text.normalize_keys import content_keys

    buf, offsets = content_keys(df)
    view, off, digest = memoryview(buf), offsets.tolist(), xxhash.xxh3_128_hexdigest
    return [digest(view[a:b]) for a, b in itertools.pairwise(off)]


def frame_ids(df: pl.DataFrame, *, min_rows: int = 2000) -> pl.Series:
    """``content_id`` of every row of a canonical table, exactly (see the module docstring)."""
    ids = _python_ids(df) if df.height < min_rows else _columnar_ids(df)
    return pl.Series("id", ids, dtype=pl.Utf8)
