"""Read a recipe source into one canonical table plus the rejects: every record lands in one.

Records are converted one by one with tight per-format code (no per-row DataFrame work), the
table is built once at the end through Arrow, and ids are hashed column-wise (``ids.frame_ids``):
the 136k-document benchmark corpus (72 MB of JSONL, two thirds Chinese) reads in ~1.5 s on 2
cores, half of it the ids' Unicode normalization. The columns are turned into Arrow every
``CHUNK_ROWS`` good records, so the per-record Python objects (and the ids' scratch columns)
exist for one chunk at a time, not for the whole source (issue 16: they set the read's peak).
Unreadable records never raise (unless ``on_error="fail"``): they become reject rows with file,
line, origin, a stable reason (see ``curate.formats.turns``) and the raw text.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import polars as pl
import pyarrow as pa

from curate.errors import InputError
from curate.formats import files
from curate.formats.detect import SAMPLE, detect_format
from curate.formats.ids import frame_ids
from curate.formats.openai_messages import OpenAIReader
from curate.formats.pairs import PairsReader
from curate.formats.plain import CanonicalReader, TextReader
from curate.formats.sharegpt import ShareGPTReader
from curate.formats.sources import ROW_BASED, base_dir_of, expand, file_stem, relative
from curate.formats.spec import SourceSpec
from curate.formats.turns import RecordError
from curate.schema import MESSAGE, REJECT_SCHEMA, SCHEMA

log = logging.getLogger(__name__)
RAW_CHARS = 2000
CHUNK_ROWS = 50_000
CHUNK_CHARS = 32_000_000  # a part is cut at this many characters of text too: long documents stay bounded
Converter = Callable[[Any], tuple]
Sink = Callable[[pl.DataFrame], None]  # takes each canonical part as it is read (stage 00's shards)


@dataclass
class ReadResult:
    """A source read: the canonical ``table``, the ``rejects``, the ``format`` used and the ``files``."""

    table: pl.DataFrame
    rejects: pl.DataFrame
    format: str
    files: list[str] = field(default_factory=list)
    hint: str | None = None  # the source option that would have read the most common rejects
    rows: int = 0  # good rows read (with a ``sink`` they went there, and ``table`` is empty)


def converter(fmt: str, spec: SourceSpec) -> Converter:
    """The record -> canonical converter for ``fmt``, configured by the source's columns/roles."""
    if fmt in ("alpaca", "prompt_response_history"):
        return PairsReader(fmt, spec.columns)
    if fmt == "sharegpt":
        return ShareGPTReader(spec.columns, spec.roles, drop_leading=spec.drop_leading_assistant)
    if fmt == "openai":
        return OpenAIReader(spec.columns, spec.roles, drop_leading=spec.drop_leading_assistant)
    if fmt == "canonical":
        return CanonicalReader(spec.columns)
    if fmt == "text":
        return TextReader(spec.columns, spec.text_field)
    raise InputError(f"unknown format {fmt!r}")


def _raw_text(raw: Any, rec: Any) -> str:
    if raw is None:
        raw = orjson.dumps(rec, default=str, option=orjson.OPT_NON_STR_KEYS) if rec is not None else b""
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
    else:  # may hold surrogate-escaped bytes from a bad file; make it storable
        text = raw.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace")
    return text.rstrip("\r\n")[:RAW_CHARS]


class _ArrowCapsule:
    """An Arrow array seen only through the C data interface (as ``text.normalize_keys`` does):
    polars then builds its Series without importing ``pyarrow.compute``."""

    def __init__(self, arr: pa.Array) -> None:
        self.arr = arr

    def __arrow_c_array__(self, requested_schema: object = None) -> object:
        return self.arr.__arrow_c_array__(requested_schema)


class _Collector:
    """Column lists for good rows and rejects; the frames are built once, at the end.

    Turns are kept flat (roles, contents, offsets) and become one Arrow list-of-struct column,
    which is ~50x faster than letting polars infer it from per-row lists of dicts.
    """

    def __init__(self, spec: SourceSpec, on_error: str, sink: Sink | None = None) -> None:
        self.spec, self.on_error, self.sink = spec, on_error, sink
        self.chars = 0  # characters of text in the current part
        self.rows = 0
        self.cols: dict[str, list[Any]] = {c: [] for c in ("origin", "kind", "system", "tools", "text")}
        self.roles: list[str] = []
        self.contents: list[str] = []
        self.offsets: list[int] = [0]
        self.rejects: dict[str, list[Any]] = {c: [] for c in ("file", "line", "origin", "error", "raw")}
        self.seen = 0
        self.parts: list[pl.DataFrame] = []
        self.tasks: list[str | None] = []  # per good row, only with task_from

    def run(self, items: Iterable[files.Item], conv: Converter, rel: str, sep: str) -> None:
        c = self.cols
        origins, kinds, systems, tools_col, texts = c["origin"], c["kind"], c["system"], c["tools"], c["text"]
        roles, contents, offsets = self.roles, self.contents, self.offsets
        limit = self.spec.limit
        takes_str = isinstance(conv, TextReader)  # a JSON string is a document, nothing else
        stem = file_stem(rel) if self.spec.task_from == "file_stem" else None
        tasks = self.tasks
        for pos, rec, err, raw in items:
            if limit is not None and self.seen >= limit:
                break
            self.seen += 1
            origin = f"{rel}{sep}{pos}"
            if err is None and rec.__class__ is not dict and not (takes_str and isinstance(rec, str)):
                err = f"not_an_object: {type(rec).__name__}"
            if err is None:
                try:
                    kind, system, messages, tools, text = conv(rec)
                except RecordError as e:
                    err = e.reason
                else:
                    origins.append(origin)
                    kinds.append(kind)
                    systems.append(system)
                    tools_col.append(tools)
                    texts.append(text)
                    n = len(text) if text else 0
                    for m in messages:
                        roles.append(m["role"])
                        contents.append(m["content"])
                        n += len(m["content"] or "")
                    offsets.append(len(roles))
                    if stem is not None:
                        tasks.append(stem)
                    self.chars += n
                    if len(origins) >= CHUNK_ROWS or self.chars >= CHUNK_CHARS:
                        self.flush()
                    continue
            if self.on_error == "fail":
                raise InputError(f"{origin}: {err}",
                                 hint="fix the record, or set on_error: skip to send bad records to rejects")
            r = self.rejects
            r["file"].append(rel)
            r["line"].append(pos)
            r["origin"].append(origin)
            r["error"].append(err)
            r["raw"].append(_raw_text(raw, rec))

    def full(self) -> bool:
        return self.spec.limit is not None and self.seen >= self.spec.limit

    def _messages(self) -> pl.Series:
        # Built through polars -> Arrow, not pa.array(list), which imports pandas (~0.8 s).
        turns = pl.DataFrame({"role": self.roles, "content": self.contents},
                             schema={"role": pl.Utf8, "content": pl.Utf8}).to_struct("m").to_arrow()
        offsets = pl.Series(self.offsets, dtype=pl.Int64).to_arrow()
        lists = pa.LargeListArray.from_arrays(offsets, turns)
        # through the C data interface: ``pl.from_arrow`` would import pyarrow.compute (~0.1 s CPU)
        return pl.Series("messages", _ArrowCapsule(lists)).alias("messages").cast(pl.List(MESSAGE))

    def flush(self) -> None:
        """The good rows so far -> one canonical part (with ids); the lists are emptied in place."""
        spec = self.spec
        part = pl.DataFrame(self.cols, schema={k: SCHEMA[k] for k in self.cols}).with_columns(
            self._messages(),
            source=pl.lit(spec.name, pl.Utf8),
            domain=pl.lit(spec.domain, pl.Utf8),
            task=pl.Series(self.tasks, dtype=pl.Utf8) if spec.task_from else pl.lit(spec.task, pl.Utf8),
        )
        part = part.with_columns(frame_ids(part)).select(list(SCHEMA))
        self.rows += part.height
        if self.sink is not None:
            self.sink(part)
        else:
            self.parts.append(part)
        self.chars = 0
        for col in self.cols.values():
            col.clear()
        self.roles.clear()
        self.contents.clear()
        self.tasks.clear()
        self.offsets[:] = [0]

    def result(self, fmt: str, names: list[str]) -> ReadResult:
        spec = self.spec
        if self.cols["origin"] or (not self.parts and not self.rows):
            self.flush()
        parts, self.parts = self.parts, []
        if self.sink is not None:
            table = pl.DataFrame(schema=SCHEMA)
        else:
            table = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical", rechunk=False)
        rejects = pl.DataFrame({"source": [spec.name] * len(self.rejects["file"]), **self.rejects},
                               schema=REJECT_SCHEMA)
        return ReadResult(table=table, rejects=rejects, format=fmt, files=names, rows=self.rows)


def _choose(spec: SourceSpec, items: Iterator[files.Item], rel: str, seen: list[str]
            ) -> tuple[str | None, Iterator[files.Item], InputError | None]:
    """Detect one file's format from its first parsed records; returns it, all items, and why not.

    The format is None when no record parses at all (every item is then a reject and no format is
    needed) or when the records fit no format: then the third value says why, and every record of
    the file becomes a reject with that reason, wherever the file sorts in a folder.
    """
    head: list[files.Item] = []
    sample: list[Any] = []
    for item in items:
        head.append(item)
        if item[2] is None:
            sample.append(item[1])
            if len(sample) >= SAMPLE:
                break
    rest = itertools.chain(head, items)
    if not sample:
        return None, rest, None
    try:
        fmt = detect_format(sample, columns=spec.columns, text_field=spec.text_field)
    except InputError as e:
        log.warning("source %s: %s: %s; its records go to rejects", spec.name, rel, e.message)
        return None, rest, e
    (log.debug if fmt in seen else log.info)("source %s: detected format %s from %s", spec.name, fmt, rel)
    return fmt, rest, None


def _unparsed(rec: Any) -> Any:
    raise AssertionError("unreachable: no record parsed, so none is converted")


class _Undetected:
    """The converter of a file whose format could not be detected: every record is a reject."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __call__(self, rec: Any) -> Any:
        raise RecordError(self.reason)


def _file_items(path: Path, ftype: str, spec: SourceSpec, rel: str
                ) -> Iterator[tuple[str, Iterator[files.Item]]]:
    """``(suffix, items)`` per part of one file (HF dataset dicts have one part per split).

    Every part is ``files.guarded``: a damaged file keeps what was read and rejects the rest.
    """
    start = 0 if ftype in ROW_BASED else 1
    if ftype == "jsonl":
        yield "", files.guarded(files.read_jsonl(path), rel, start=start)
    elif ftype == "json":
        yield "", files.guarded(files.read_json(path), rel, start=start)
    elif ftype == "parquet":
        yield "", files.guarded(files.read_parquet(path), rel, start=start)
    elif ftype in ("csv", "tsv"):
        yield "", files.guarded(files.read_csv(path, delimiter="," if ftype == "csv" else "\t"), rel,
                                start=start)
    elif ftype in ("text", "markdown"):
        yield "", files.guarded(files.read_text(path, split=spec.text_split, markdown=ftype == "markdown"),
                                rel, start=start)
    elif ftype == "sqlite":
        yield "", files.guarded(files.read_sqlite(path, table=spec.table, query=spec.query), rel, start=start)
    elif ftype == "hf":
        for split, items in files.read_hf(path):
            yield f"/{split}" if split else "", items
    else:
        raise InputError(f"unknown file_type {ftype!r} for {path}")


def reject_hint(rejects: pl.DataFrame, spec: SourceSpec) -> str | None:
    """The source option that would have read the most common kind of reject, when one would."""
    if not rejects.height:
        return None
    lead = int(rejects["error"].str.starts_with("role_order: conversation starts with assistant").sum())
    if lead and not spec.drop_leading_assistant:
        return (f"{lead:,} conversation(s) start with an assistant turn: --drop-leading-assistant "
                "(recipe: drop_leading_assistant: true) drops those turns instead of the conversation")
    unknown = int(rejects["error"].str.starts_with("unknown_format").sum())
    if unknown and spec.format == "auto":
        return ("set the format (--format / recipe format:) and, if the field names differ, the columns "
                "(--columns prompt=query,response=response,system=system / recipe columns:)")
    return None


def _read(spec: SourceSpec, parts: Iterable[tuple[str, str, str, Iterator[files.Item]]], on_error: str,
          names: list[str], sink: Sink | None = None) -> ReadResult:
    """Convert ``(rel, sep, ftype, items)`` parts into one ReadResult.

    With ``format: auto`` each file is detected on its own, so a folder may mix formats and one
    undetectable file (binary, or keys no format has) becomes rejects instead of stopping the read.
    Only when no file of the source is detectable does the read stop, naming the keys it saw.
    """
    col = _Collector(spec, on_error, sink)
    convs: dict[str, Converter] = {}
    used: list[str] = []
    undetected: InputError | None = None
    for rel, sep, ftype, items in parts:
        if col.full():
            break
        fmt: str | None = None if spec.format == "auto" else spec.format
        why = None
        if ftype in ("text", "markdown"):
            if fmt not in (None, "text"):
                raise InputError(f"{rel} is a {ftype} file, which holds documents, not {fmt} records",
                                 hint="use format: text (or auto) for text and Markdown files")
            if fmt is None:
                log.info("source %s: text documents from %s", spec.name, rel)
            fmt = "text"
        elif fmt is None:
            fmt, items, why = _choose(spec, items, rel, used)
        if fmt is not None and fmt not in convs:
            convs[fmt] = converter(fmt, spec)
        if fmt is not None and fmt not in used:
            used.append(fmt)
        if why is not None:
            undetected = undetected or why
            conv: Any = _Undetected(f"unknown_format: {why.message}")
        else:
            conv = convs[fmt] if fmt else _unparsed
        col.run(items, conv, rel, sep)
    if undetected is not None and not used:
        raise InputError(f"source {spec.name}: {undetected.message}", hint=undetected.hint)
    result = col.result(used[0] if len(used) == 1 else ("mixed: " + ", ".join(used) if used else "unknown"),
                        names)
    if result.rejects.height:
        result.hint = hint = reject_hint(result.rejects, spec)
        first = result.rejects.row(0, named=True)
        log.warning("source %s: %d record(s) rejected (first: %s %s)%s", spec.name, result.rejects.height,
                    first["origin"], first["error"], f"; hint: {hint}" if hint else "")
    return result


def read_source(spec: SourceSpec, *, base_dir: Path, on_error: Literal["skip", "fail"] = "skip",
                root: Path | None = None, sink: Sink | None = None) -> ReadResult:
    """Read every file of ``spec`` into canonical rows; bad records go to rejects (or raise on fail).

    ``root`` (the recipe's ``sources_root``) refuses any file that resolves outside it. With a
    ``sink``, each canonical part (``CHUNK_ROWS`` rows or ``CHUNK_CHARS`` characters) goes to it as
    soon as it is built and the result's ``table`` is empty: the read holds one part at a time.
    """
    base_dir = base_dir_of(spec.package, Path(base_dir))
    paths = expand(spec.path, base_dir, spec.file_type, root=root)
    names = [relative(p, Path(base_dir)) for p, _ in paths]

    def parts() -> Iterator[tuple[str, str, str, Iterator[files.Item]]]:
        for (path, ftype), rel in zip(paths, names, strict=True):
            sep = "#" if ftype in ROW_BASED else ":"
            for suffix, items in _file_items(path, ftype, spec, rel):
                yield rel + suffix, sep, ftype, items

    return _read(spec, parts(), on_error, names, sink)


def from_records(records: Iterable[Any], *, format: str = "auto", name: str = "inline",
                 on_error: Literal["skip", "fail"] = "skip", **source_options: Any) -> ReadResult:
    """Convert in-memory records (e.g. a list of Alpaca dicts); origins are ``<name>#<index>``."""
    spec = SourceSpec(name=name, path=name, format=format, **source_options)
    items = ((i, rec, None, None) for i, rec in enumerate(records))
    return _read(spec, [(name, "#", "records", items)], on_error, [])


def _spec(path: str | Path, format: str, options: dict[str, Any]) -> SourceSpec:
    p = Path(path)
    while any(ch in p.name for ch in "*?[") and p.parent != p:  # a glob: name it after its folder
        p = p.parent
    name = options.pop("name", None) or "".join(ch if ch.isalnum() or ch in "-_." else "_"
                                                 for ch in p.name.split(".")[0]) or "data"
    return SourceSpec(name=name, path=str(path), format=format, **options)


def load_with_rejects(path: str | Path, *, format: str = "auto", **source_options: Any) -> ReadResult:
    """Read a file, folder or glob like a recipe source would (origins relative to the cwd)."""
    on_error = source_options.pop("on_error", "skip")
    return read_source(_spec(path, format, source_options), base_dir=Path.cwd(), on_error=on_error)


def load(path: str | Path, *, format: str = "auto", **source_options: Any) -> pl.DataFrame:
    """The canonical table of a file, folder or glob; rejects are dropped but logged with a count."""
    return load_with_rejects(path, format=format, **source_options).table
