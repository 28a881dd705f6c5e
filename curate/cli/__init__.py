"""The ``curate`` command. The only place that configures logging and renders errors.

Subcommands load lazily, so ``curate validate`` never imports torch.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from curate.errors import CurateError

LAZY: dict[str, str] = {
    "train": "curate.cli.train:train",
    "estimate": "curate.cli.train:estimate",
    "merge": "curate.cli.train:merge",
    "export-llamafactory": "curate.cli.train:export_llamafactory",
    "cache": "curate.cli.cache:cache_group",
}


class LazyGroup(click.Group):
    """A click group whose heavy subcommands are imported only when called."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY:
            mod, attr = LAZY[name].split(":")
            try:
                return getattr(importlib.import_module(mod), attr)
            except (ImportError, AttributeError) as e:  # pragma: no cover - broken install
                raise click.ClickException(f"command {name!r} is unavailable: {e}") from e
        return super().get_command(ctx, name)


def _console() -> Any:
    from rich.console import Console

    con = Console()
    return con if con.is_terminal else Console(width=max(con.width, 130))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="curate")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug logs).")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, debug: bool) -> None:
    """curate: raw corpora -> curated instruction-tuning mixture -> LoRA adapter, from one YAML recipe.

    Start with `curate run recipes/quickstart.yaml`, then `curate stats runs/quickstart`.
    """
    from rich.logging import RichHandler

    level = logging.WARNING - 10 * min(verbose + 1, 2) if verbose else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(show_path=False, console=_stderr())],
        force=True,
    )
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = {"debug": debug}


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run directory (default: runs/<recipe name>).",
)
@click.option("--force", is_flag=True, help="Re-run every stage instead of reusing finished ones.")
@click.option("--no-train", is_flag=True, help="Skip the recipe's train: block.")
def run(recipe: Path, out: Path | None, force: bool, no_train: bool) -> None:
    """Run RECIPE: read sources, run stages, write output (and train when the recipe says so).

    Finished stages are reused when their input and config are unchanged; a killed run resumes at
    the first unfinished stage. Prints a summary table; details are in <run>/manifest.json and
    <run>/report.html.
    """
    import curate

    res = curate.run(recipe, out=out, force=force, train=not no_train, progress=None)
    _print_summary(res.manifest, res.run_dir.root)


def _print_summary(m: dict[str, Any], root: Path) -> None:
    from rich.table import Table

    t = Table(title=f"run {m['name']}")
    for col in ("#", "stage", "in", "kept", "removed", "top reasons", "time"):
        t.add_column(col, justify="right" if col in ("in", "kept", "removed", "time") else "left")
    for s in m["stages"]:
        reasons = ", ".join(f"{k}:{v}" for k, v in list(s["reasons"].items())[:3])
        extra = " (reused)" if s.get("reused") else ""
        side = "".join(f" +{k}:{v}" for k, v in (s.get("side") or {}).items())
        t.add_row(
            str(s["index"]),
            s["name"] + extra,
            f"{s['rows_in']:,}",
            f"{s['kept']:,}{side}",
            f"{s['removed']:,}",
            reasons,
            f"{s['seconds']:.2f}s",
        )
    con = _console()
    con.print(t)
    con.print(f"rejected input records: {m['rejects']:,} (see {root / 'rejects.parquet'})")
    con.print(f"output: {m['output']['rows']:,} rows -> {root / 'output'}")
    if m.get("train"):
        tr = m["train"]
        con.print(
            f"train: eval loss {tr.get('base_eval_loss')} -> {tr.get('final_eval_loss')}; "
            f"adapter at {tr.get('adapter_dir')}"
        )
    for w in m.get("warnings", []):
        con.print(f"[yellow]warning:[/] {w}")
    con.print(f"report: {root / 'report.html'}")


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
def validate(recipe: Path) -> None:
    """Check RECIPE (keys, stage names and options, formats) without running anything."""
    from curate.recipe import load

    r = load(recipe)
    click.echo(
        f"ok: {recipe} ({len(r.sources)} sources, {len(r.stages)} stages{', train' if r.train else ''})"
    )


@cli.command()
@click.argument("src", type=click.Path(exists=True, path_type=Path))
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
    help="Source format (auto detects and says which).",
)
def convert(src: Path, to_format: str, output: Path, from_format: str) -> None:
    """Convert SRC (file, folder or glob) to another chat format; bad records are counted, not lost."""
    from curate.errors import InputError
    from curate.formats import load_with_rejects, write
    from curate.formats.compat import incompatibility

    ext = output.suffix.lstrip(".").lower()
    file_format = {"jsonl": "jsonl", "json": "json", "parquet": "parquet"}.get(ext)
    if file_format is None:
        raise InputError(
            f"cannot tell the file type of {output}", hint="use a .jsonl, .json or .parquet name"
        )
    res = load_with_rejects(src, format=from_format)
    df = res.table.with_columns(incompatibility(to_format).alias("__why"))
    bad = df.filter(df["__why"].is_not_null())
    write(df.filter(df["__why"].is_null()).drop("__why"), output, fmt=to_format, file_format=file_format)
    click.echo(
        f"read {res.table.height:,} rows as {res.format}; wrote {res.table.height - bad.height:,} as "
        f"{to_format} to {output}"
    )
    if bad.height:
        click.echo(
            f"skipped {bad.height:,} rows that {to_format} cannot hold: "
            f"{dict(bad['__why'].value_counts().iter_rows())}"
        )
    if res.rejects.height:
        rej = output.with_name(output.stem + ".rejects.jsonl")
        res.rejects.write_ndjson(rej)
        click.echo(f"rejected {res.rejects.height:,} malformed records -> {rej}")


@cli.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", default="auto", show_default=True, help="Input format when PATH is data.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def stats(path: Path, fmt: str, as_json: bool) -> None:
    """Row counts, length percentiles, turns, formats and sources of PATH (data or a run directory)."""
    from curate.report.describe import compute, render

    s = compute(path, format=fmt)
    if as_json:
        click.echo(json.dumps(s, ensure_ascii=False, indent=2))
        return
    con = _console()
    for r in render(s):
        con.print(r)


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(run_dir: Path) -> None:
    """(Re)draw RUN_DIR/report.html from its manifest and outputs."""
    from curate.pipeline.rundir import RunDir
    from curate.report.html import write_report

    p = write_report(RunDir(run_dir), RunDir.read_manifest(run_dir))
    click.echo(str(p))


@cli.command()
@click.argument("name", required=False)
@click.option("--markdown", is_flag=True, help="Print the stage reference as Markdown.")
def stages(name: str | None, markdown: bool) -> None:
    """List stages, or show one stage's options (from its typed config)."""
    from curate.pipeline.docs import reference_markdown, stage_reference

    click.echo(reference_markdown() if markdown and not name else stage_reference(name, markdown=markdown))


def main() -> None:
    """Console entry: render CurateError as one line plus hint, exit code 2."""
    from curate.cli.startup import process_setup

    process_setup()
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except CurateError as e:
        if debug:
            raise
        click.secho(f"error: {e.message}", fg="red", err=True)
        if e.hint:
            click.echo(f"  hint: {e.hint}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
