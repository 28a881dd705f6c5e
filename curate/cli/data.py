"""``curate convert`` and ``curate stats``: data in, with a recipe source's reading options.

Loaded lazily by ``curate.cli`` (building the options imports the recipe's pydantic models, ~0.2 s).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from curate.cli import _console

# A recipe source's reading options, offered by `convert` and `stats`. Built from SourceSpec's fields
# (name, type, default, description), so the CLI and the recipe cannot drift apart.
READ_OPTIONS = (
    "columns", "roles", "file_type", "text_split", "text_field", "limit", "drop_leading_assistant"
)


class _Pairs(click.ParamType):
    """``key=value,key=value`` -> dict: a recipe's ``columns: {prompt: query}`` on one line."""

    name = "KEY=FIELD,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dict):
            return value
        out: dict[str, str] = {}
        for part in (p.strip() for p in str(value).split(",")):
            if not part:
                continue
            key, sep, field = part.partition("=")
            if not sep or not key.strip() or not field.strip():
                self.fail(f"{part!r} is not KEY=FIELD (e.g. prompt=query,response=response)", param, ctx)
            out[key.strip()] = field.strip()
        return out


def source_options(f: Any) -> Any:
    """Decorate a command with the reading options of a recipe source (see READ_OPTIONS)."""
    from typing import Literal, get_args, get_origin

    from curate.recipe import SourceSpec

    for name in reversed(READ_OPTIONS):
        fld = SourceSpec.model_fields[name]
        ann, kw = fld.annotation, {"help": f"{fld.description} (recipe: {name}:)", "default": None}
        if ann is bool:
            kw.update(is_flag=True, default=False)
        elif get_origin(ann) is Literal:
            kw.update(type=click.Choice(get_args(ann)), default=fld.default, show_default=True)
        elif get_origin(ann) is dict:
            kw["type"] = _Pairs()
        elif int in get_args(ann):
            kw["type"] = click.IntRange(min=1)
        f = click.option("--" + name.replace("_", "-"), name, **kw)(f)
    return f


def format_choice() -> click.Choice:
    """The recipe's ``format:`` values, auto included."""
    from typing import get_args

    from curate.recipe import SourceSpec

    return click.Choice(get_args(SourceSpec.model_fields["format"].annotation))


def read_options(kw: dict[str, Any]) -> dict[str, Any]:
    """The source options a user actually gave (defaults left to SourceSpec)."""
    return {k: kw[k] for k in READ_OPTIONS if kw.get(k) not in (None, False, {})}


@click.command()
@click.argument("src")
@click.option(
    "--to",
    "to_format",
    required=True,
    type=click.Choice(["alpaca", "sharegpt", "openai", "prompt_response_history", "canonical", "text"]),
    help="Target format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Output file; .jsonl, .json or .parquet decides the file type.",
)
@click.option(
    "--from",
    "from_format",
    default="auto",
    show_default=True,
    type=format_choice(),
    help="Source format (auto detects it per file and says which).",
)
@source_options
def convert(src: str, to_format: str, output: Path, from_format: str, **options: Any) -> None:
    """Convert SRC (file, folder or quoted glob) to another chat format; bad records are counted, not lost.

    Takes a recipe source's reading options. Fails (exit 2) when records were read but none could
    be written.
    """
    from curate.errors import InputError
    from curate.formats import load_with_rejects, write
    from curate.formats.compat import incompatibility

    ext = output.suffix.lstrip(".").lower()
    file_format = {"jsonl": "jsonl", "json": "json", "parquet": "parquet"}.get(ext)
    if file_format is None:
        raise InputError(
            f"cannot tell the file type of {output}", hint="use a .jsonl, .json or .parquet name"
        )
    res = load_with_rejects(src, format=from_format, **read_options(options))
    df = res.table.with_columns(incompatibility(to_format).alias("__why"))
    bad = df.filter(df["__why"].is_not_null())
    good = df.filter(df["__why"].is_null()).drop("__why")
    rej = output.with_name(output.stem + ".rejects.jsonl")
    if res.rejects.height:
        res.rejects.write_ndjson(rej)
    if good.height == 0 and (res.table.height or res.rejects.height):
        why = {**dict(bad["__why"].value_counts().iter_rows())} if bad.height else {}
        if res.rejects.height:
            from curate.report.describe import reject_reasons

            why.update(reject_reasons(res.rejects))
        raise InputError(
            f"nothing to write: all {res.table.height + res.rejects.height:,} records of {src} were "
            f"rejected or cannot be held by {to_format} ({', '.join(f'{k}: {v:,}' for k, v in why.items())})",
            hint=res.hint or (f"see {rej}" if res.rejects.height else "choose another --to format"),
        )
    write(good, output, fmt=to_format, file_format=file_format)
    click.echo(
        f"read {res.table.height:,} rows as {res.format}; wrote {good.height:,} as {to_format} to {output}"
    )
    if bad.height:
        click.echo(
            f"skipped {bad.height:,} rows that {to_format} cannot hold: "
            f"{dict(bad['__why'].value_counts().iter_rows())}"
        )
    if res.rejects.height:
        click.echo(f"rejected {res.rejects.height:,} malformed records -> {rej}")
        if res.hint:
            click.echo(f"  hint: {res.hint}")


@click.command()
@click.argument("path")
@click.option("--format", "fmt", default="auto", show_default=True, type=format_choice(),
              help="Input format when PATH is data.")
@source_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def stats(path: str, fmt: str, as_json: bool, **options: Any) -> None:
    """Row counts, length percentiles, turns, formats and sources of PATH: a run directory, or data
    (file, folder or quoted glob) read with a recipe source's reading options."""
    from curate.report.describe import compute

    s = compute(path, format=fmt, **read_options(options))
    if as_json:
        click.echo(json.dumps(s, ensure_ascii=False, indent=2))
        return
    from curate.report.describe import render

    con = _console()
    for r in render(s):
        con.print(r)
