"""curate: raw text and chat corpora -> curated instruction-tuning mixture -> LoRA adapter.

The notebook API is three calls::

    import curate
    df = curate.load("data/tickets.jsonl")          # any supported format -> canonical table
    curate.stats(df)                                  # counts, lengths, turns, sources
    result = curate.run("recipes/quickstart.yaml")    # the whole recipe; result.manifest, .output
    run = curate.open("runs/quickstart")              # stages, removed, scores, plots, trace
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.version import __version__

if TYPE_CHECKING:
    import polars as pl

    from curate.app import RunResult
    from curate.recipe import Recipe
    from curate.report.explore import Run
    from curate.report.notebook import Stats, ThresholdPreview


def load(path: str | Path, *, format: str = "auto", **options: Any) -> pl.DataFrame:
    """Read a file, folder or glob in any supported format into the canonical table."""
    from curate.formats import load as _load

    return _load(path, format=format, **options)


def stats(data: str | Path | pl.DataFrame, *, format: str = "auto", **options: Any) -> Stats:
    """Row counts, length percentiles, turns, formats and sources of a table, file or run dir.

    A dict (the ``curate stats --json`` shape) with ``.lengths``, ``.counts`` and ``.funnel`` as polars
    frames, drawn as tables in Jupyter. ``options`` are a recipe source's reading options (``columns``,
    ``roles``, ``file_type``, ...).
    """
    from curate.report.describe import compute
    from curate.report.notebook import Stats

    return Stats(compute(data, format=format, **options))


def open(run_dir: str | Path) -> Run:
    """Open a finished run: stages, removed rows, scores, output, plots and ``trace``."""
    from curate.report.explore import Run

    return Run(run_dir)


def suggest_threshold(df: pl.DataFrame, col: str, keep: float = 0.9, *, side: str = "min") -> float:
    """The cut on a score column that keeps about ``keep`` of the rows."""
    from curate.report.notebook import suggest_threshold as _s

    return _s(df, col, keep, side=side)  # type: ignore[arg-type]


def preview_threshold(df: pl.DataFrame, col: str, value: float, *, side: str = "min") -> ThresholdPreview:
    """How many rows, and which, a cut at ``value`` would remove."""
    from curate.report.notebook import preview_threshold as _p

    return _p(df, col, value, side=side)  # type: ignore[arg-type]


def run(
    recipe: str | Path | Recipe,
    *,
    out: str | Path | None = None,
    force: bool = False,
    train: bool = True,
    progress: bool | None = False,
) -> RunResult:
    """Run a recipe (a path or a parsed ``Recipe``) and return its ``RunResult``."""
    from curate.app import run as _run
    from curate.recipe import Recipe
    from curate.recipe import load as load_recipe

    r = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    return _run(r, out=Path(out) if out else None, force=force, progress=progress, train=train)


__all__ = ["__version__", "load", "open", "preview_threshold", "run", "stats", "suggest_threshold"]
