"""The canonical schema: one table shape that every stage takes and returns.

A chat row keeps its turns in ``messages`` (roles ``user``, ``assistant``, ``tool_call``, ``tool``),
its system prompt in ``system`` and a ShareGPT-style tool schema in ``tools``. A document row has
``kind == "text"`` and its body in ``text``. Stages add ``score_*``, ``tag_*`` and ``cluster``.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
import xxhash

from curate.errors import SchemaError

ROLES: tuple[str, ...] = ("user", "assistant", "tool_call", "tool")
KINDS: tuple[str, ...] = ("chat", "text")

MESSAGE = pl.Struct({"role": pl.Utf8, "content": pl.Utf8})
SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Utf8(),
    "source": pl.Utf8(),
    "origin": pl.Utf8(),
    "kind": pl.Utf8(),
    "domain": pl.Utf8(),
    "task": pl.Utf8(),
    "system": pl.Utf8(),
    "messages": pl.List(MESSAGE),
    "tools": pl.Utf8(),
    "text": pl.Utf8(),
}
COLUMNS: tuple[str, ...] = tuple(SCHEMA)

# Columns that say why a row left a stage (see pipeline.stage.mark_removed).
REMOVED_SCHEMA: dict[str, pl.DataType] = {
    "stage": pl.Utf8(),
    "reason": pl.Utf8(),
    "value": pl.Float64(),
    "threshold": pl.Utf8(),
    "dup_of": pl.Utf8(),
}
REJECT_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "file": pl.Utf8(),
    "line": pl.Int64(),
    "origin": pl.Utf8(),
    "error": pl.Utf8(),
    "raw": pl.Utf8(),
}

_SEP_FIELD, _SEP_TURN, _SEP_ROLE = "\x1f", "\x1e", "\x1d"


# Bumped whenever ``content_key`` changes: every row id and every cache keyed by one changes with it
# (run fingerprints include it). 2: per-character NFKC (``fold_map``) instead of whole-string NFKC.
ID_VERSION = 2


@functools.cache
def fold_map() -> dict[int, str]:
    """NFKC of each Basic Multilingual Plane character that NFKC changes: curate's one fold table.

    Applied one character at a time (``str.translate``), so a decomposed accent is not recomposed
    with its letter and characters outside the BMP stay as they are. ``text.normalize.char_folds``
    (exact and MinHash dedup keys) and the content-id kernel (``text.normalize_keys``) are built
    from this map, so ids and dedup fold every character the same way. ~5,700 entries, ~0.05 s.
    """
    out: dict[int, str] = {}
    for c in range(0x10000):
        if 0xD800 <= c < 0xE000:  # surrogates map to themselves
            continue
        ch = chr(c)
        folded = unicodedata.normalize("NFKC", ch)
        if folded != ch:
            out[c] = folded
    return out


def normalize(text: str | None) -> str:
    """The form two copies of one record agree on: ``fold_map`` per character, then whitespace
    collapsed as ``str.split`` does (runs become one space, ends trimmed).

    ASCII is its own fold, so ASCII text only has its whitespace collapsed.
    """
    if not text:
        return ""
    if not text.isascii():
        text = text.translate(fold_map())
    return " ".join(text.split())


def content_key(
    *,
    kind: str,
    system: str | None = None,
    messages: Sequence[Mapping[str, Any]] | None = None,
    tools: str | None = None,
    text: str | None = None,
) -> str:
    """The normalized content string that ``content_id`` hashes (no source, no origin)."""
    turns = _SEP_TURN.join(f"{m['role']}{_SEP_ROLE}{normalize(m['content'])}" for m in (messages or ()))
    return _SEP_FIELD.join((kind, normalize(system), turns, normalize(tools), normalize(text)))


def content_id(**fields: Any) -> str:
    """Stable 128-bit hex id of normalized content: the same record from two sources shares it.

    >>> content_id(kind="text", text="Hello  world") == content_id(kind="text", text=" Hello world")
    True
    """
    return xxhash.xxh3_128_hexdigest(content_key(**fields).encode("utf-8"))


def chat_row(
    messages: Sequence[Mapping[str, str]] | Sequence[tuple[str, str]],
    *,
    system: str | None = None,
    tools: str | None = None,
    source: str = "inline",
    origin: str | None = None,
    domain: str = "general",
    task: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build one canonical chat row (id computed). Handy in tests and notebooks."""
    msgs = [{"role": m[0], "content": m[1]} if isinstance(m, (tuple, list)) else dict(m) for m in messages]
    row = {
        "id": content_id(kind="chat", system=system, messages=msgs, tools=tools),
        "source": source,
        "origin": origin or source,
        "kind": "chat",
        "domain": domain,
        "task": task,
        "system": system,
        "messages": msgs,
        "tools": tools,
        "text": None,
    }
    row.update(extra)
    return row


def text_row(
    text: str,
    *,
    source: str = "inline",
    origin: str | None = None,
    domain: str = "general",
    task: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build one canonical document row (id computed)."""
    row = {
        "id": content_id(kind="text", text=text),
        "source": source,
        "origin": origin or source,
        "kind": "text",
        "domain": domain,
        "task": task,
        "system": None,
        "messages": [],
        "tools": None,
        "text": text,
    }
    row.update(extra)
    return row


def frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Canonical DataFrame from row dicts; extra keys become extra columns."""
    rows = list(rows)
    if not rows:
        return empty()
    extra_keys: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k not in SCHEMA:
                extra_keys[k] = None
    schema = dict(SCHEMA)
    data = {c: [r.get(c) for r in rows] for c in (*COLUMNS, *extra_keys)}
    for c in COLUMNS:
        if c == "messages":
            data[c] = [m if m is not None else [] for m in data[c]]
    df = pl.DataFrame({c: data[c] for c in COLUMNS}, schema=schema)
    if extra_keys:
        df = df.hstack(pl.DataFrame({k: data[k] for k in extra_keys}, strict=False))
    return df


def empty(extra: Mapping[str, pl.DataType] | None = None) -> pl.DataFrame:
    """A zero-row canonical table (plus ``extra`` columns)."""
    return pl.DataFrame(schema={**SCHEMA, **(extra or {})})


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Check and cast ``df`` to the canonical schema; canonical columns first, extras after.

    Raises SchemaError naming the missing column rather than failing later in a stage.
    """
    missing = [c for c in ("messages", "kind") if c not in df.columns]
    if missing:
        raise SchemaError(
            f"table is not canonical: missing column(s) {missing}",
            hint="read data with curate.load() or a recipe source, which convert to the canonical schema",
        )
    exprs = []
    for c, dt in SCHEMA.items():
        exprs.append(pl.col(c).cast(dt) if c in df.columns else pl.lit(None, dtype=dt).alias(c))
    extras = [c for c in df.columns if c not in SCHEMA]
    return df.select(*exprs, *extras)


def rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts (messages as lists of role/content dicts)."""
    return df.to_dicts()


def dumps(obj: Any) -> str:
    """Compact, key-stable JSON used for raw-record snapshots and config fingerprints."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
