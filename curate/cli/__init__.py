"""The ``curate`` command. The only place that configures logging and renders errors.

Subcommands load lazily, so ``curate validate`` never imports torch.
"""

from __future__ import annotations

import importlib
import logging
import os
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
    "convert": "curate.cli.data:convert",
    "stats": "curate.cli.data:stats",
    "cache": "curate.cli.cache:cache_group",
    "eval": "curate.cli.eval:eval_cmd",
    "ablate": "curate.cli.ablate:ablate_cmd",
    "serve": "curate.cli.serve:serve_cmd",
    "score": "curate.cli.score:score_cmd",
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
    console = RichHandler(show_path=False, console=_stderr())
    if verbose < 2:  # developer notes go to <run>/run.log; -vv shows them here too
        console.addFilter(lambda record: not getattr(record, "curate_note", False))  # progress.is_note
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]", handlers=[console], force=True)
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.obj = {"debug": debug}


def _stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)



_SANDBOX_HELP = ("Refuse source paths outside the recipe's folder (or its sources_root), for recipes "
                 "from others; without it sources may point anywhere you can read.")


def _load_recipe(recipe: Path, sandbox: bool) -> Any:
    from curate.recipe import load

    r = load(recipe)
    if sandbox and r.sources_root is None:
        r.sources_root = "."
    return r


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
@click.option("--sandbox", is_flag=True, help=_SANDBOX_HELP)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="Override the recipe's executor: (ray needs the `ray` extra; docs/scaling.md).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Override the recipe's workers: processes for consecutive row stages (a fused segment's "
    "shards run in a process pool) and threads for the rest; 1 runs every stage in this process "
    "(default: every CPU this process may use).",
)
@click.option(
    "--address",
    default=None,
    help="Ray cluster to join (what `ray start --head` prints, e.g. 10.0.0.1:6379); sets RAY_ADDRESS.",
)
def run(
    recipe: Path,
    out: Path | None,
    force: bool,
    no_train: bool,
    sandbox: bool,
    executor: str | None,
    workers: int | None,
    address: str | None,
) -> None:
    """Run RECIPE: read sources, run stages, write output (and train when the recipe says so).

    Finished stages are reused when their input and config are unchanged; a killed run resumes at
    the first unfinished stage. Prints a summary table; details are in <run>/manifest.json and
    <run>/report.html.
    """
    import curate

    r = _load_recipe(recipe, sandbox)
    if executor:
        r.executor = executor
    if workers:
        r.workers = workers
    if address:  # Ray's own variable: ray.init() joins that cluster (RayExecutor reads it too)
        os.environ["RAY_ADDRESS"] = address
    res = curate.run(r, out=out, force=force, train=not no_train, progress=None)
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
        side += f" (+{s['added']:,} repeats)" if s.get("added") else ""
        t.add_row(
            str(s["index"]),
            s["name"] + extra,
            f"{s['rows_in']:,}",
            f"{s['kept']:,}{side}",
            f"{s['removed']:,}",
            reasons,
            _seconds(s),
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
    compiled = sum(s.get("compile_s") or 0 for s in m["stages"])
    if compiled >= 0.5:
        con.print(f"first-run cost: {compiled:.1f}s of the stage times is numba's one-time compile; "
                  "later runs load the compiled kernels from its cache")
    con.print(f"report: {root / 'report.html'}")
    con.print(f"log: {root / 'run.log'}")


def _seconds(s: dict[str, Any]) -> str:
    """A stage's time, with numba's one-time compile shown apart (a first run's minhash: 16 s of it)."""
    c = s.get("compile_s") or 0
    return f"{s['seconds']:.2f}s" + (f" (incl. {c:.1f}s one-time compile)" if c >= 0.05 else "")


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sandbox", is_flag=True, help=_SANDBOX_HELP)
def validate(recipe: Path, sandbox: bool) -> None:
    """Check RECIPE without running anything: keys, stage names and options, formats, that every source
    path matches files, that model names resolve offline (no weights loaded) and language codes exist."""
    from curate.preflight import check

    r = _load_recipe(recipe, sandbox)
    n_files = check(r)
    click.echo(
        f"ok: {recipe} ({len(r.sources)} sources, {n_files} files, {len(r.stages)} stages"
        f"{', train' if r.train else ''})"
    )
    _scoring_estimates(r)


def _scoring_estimates(r: Any) -> None:
    """For recipes with model-backed stages: their cost on the source rows (``curate.lm.estimate``)."""
    from curate.pipeline import registry

    specs = [(s.name, registry.get(s.name), s.params) for s in r.stages]
    if not any(hasattr(cls, "estimate_cost") for _, cls, _ in specs):
        return
    import polars as pl

    from curate.formats import read_source
    from curate.lm.estimate import estimate_line, run_estimates

    tables = [read_source(s, base_dir=r.base_dir, on_error="skip").table for s in r.sources]
    table = pl.concat(tables, how="diagonal_relaxed")
    for e in run_estimates(specs, table, seed=r.seed):
        click.echo(f"  {estimate_line(e)}")
    click.echo("  (an upper bound: filters may cut more rows; cached scores cost nothing)")


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(run_dir: Path) -> None:
    """(Re)draw RUN_DIR/report.html from its manifest and outputs."""
    from curate.pipeline.rundir import RunDir
    from curate.report.html import write_report

    p = write_report(RunDir(run_dir), RunDir.read_manifest(run_dir))
    click.echo(str(p))


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("key")
@click.option(
    "--tokens", "show_tokens", is_flag=True, help="List every token of the row's training examples."
)
def trace(run_dir: Path, key: str, show_tokens: bool) -> None:
    """Follow one row of RUN_DIR from raw record to training example.

    KEY is a content id (or its first 8+ characters), an origin (file:line, file#n) or a text substring.
    When training ran, the row's examples are shown decoded with their loss mask (trained spans in
    ⟦ ⟧) and the optimizer steps that used them.
    """
    from curate.report.explore import Run
    from curate.report.trace import trace as follow

    try:
        t = follow(Run(run_dir), key)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    click.echo(str(t))
    for e in t.examples if show_tokens else []:
        click.echo(f"\nexample {e.index}: position id token trained")
        for pos, tid, piece, trained in e.token_table().iter_rows():
            click.echo(f"{pos:>6} {tid:>7} {piece!r:<24} {'1' if trained else '0'}")


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
    except click.exceptions.Abort as e:
        if isinstance(e.__context__, EOFError) and not debug:  # click turns every EOFError into Abort
            click.secho(f"error: input ended unexpectedly: {e.__context__}", fg="red", err=True)
            click.echo("  hint: re-run with --debug for the traceback", err=True)
            sys.exit(2)
        if isinstance(e.__context__, EOFError):
            raise e.__context__ from None
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
