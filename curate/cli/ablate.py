"""``curate ablate RECIPE``: train the recipe on raw, random-k, longest-k and curated data; compare."""

from __future__ import annotations

from pathlib import Path

import click


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@click.command("ablate")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run directory (default: runs/<recipe name>); results go to <run>/ablate/.",
)
@click.option("--seeds", type=int, default=3, show_default=True, help="Training seeds per variant.")
@click.option(
    "--variants",
    default="raw,random,longest,curated",
    show_default=True,
    help="Comma-separated: raw, random (k rows), longest (k longest answers), curated.",
)
@click.option(
    "--leave-out",
    "leave_out",
    multiple=True,
    help="Also train the curated set without this stage (repeatable), e.g. --leave-out select.ifd.",
)
@click.option(
    "--steps",
    type=int,
    default=None,
    help="Optimizer steps per run (default: the recipe's max_steps, else one pass over the curated set).",
)
@click.option(
    "--eval-rows",
    type=int,
    default=None,
    help="Held-out rows measured per domain (chat and documents apart; default: the recipe's "
    "eval.rows_per_domain, else all).",
)
@click.option("--mcq-items", type=int, default=None, help="MCQ items per set (default: the recipe's eval).")
@click.option(
    "--mcq-sets",
    default=None,
    help="Comma-separated MCQ sets to score (e.g. lawbench_mcq; held_out = items built from the split). "
    "Default: the recipe's eval.mcq_sets, else all.",
)
def ablate_cmd(
    recipe: Path,
    out: Path | None,
    seeds: int,
    variants: str,
    leave_out: tuple[str, ...],
    steps: int | None,
    mcq_items: int | None,
    eval_rows: int | None,
    mcq_sets: str | None,
) -> None:
    """Does curation pay? Same steps and token budget per variant, same held-out sets, mean ± sd."""
    from curate.ablate import ablate
    from curate.recipe import load
    from curate.report.ablation import ablation_markdown

    res = ablate(
        load(recipe),
        seeds=seeds,
        variants=_names(variants),
        leave_out=list(leave_out),
        out=out,
        steps=steps,
        mcq_items=mcq_items,
        eval_rows=eval_rows,
        mcq_sets=_names(mcq_sets) or None,
    )
    click.echo(ablation_markdown(res))
    click.echo(f"ablation: {Path(res['run_dir']) / 'ablate' / 'ablation.md'} ({res['seconds']:.0f}s)")
