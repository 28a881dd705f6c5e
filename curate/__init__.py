"""curate: raw text and chat corpora -> curated instruction-tuning mixture -> LoRA adapter.

The notebook API is three calls::

    import curate
    df = curate.load("data/tickets.jsonl")          # any supported format -> canonical table
    curate.stats(df)                                  # counts, lengths, turns, sources
    result = curate.run("recipes/quickstart.yaml")    # the whole recipe; result.manifest, .output
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.version import __version__

if TYPE_CHECKING:
    import polars as pl

    from curate.app import RunResult
    from curate.recipe import Recipe


def load(path: str | Path, *, format: str = "auto", **options: Any) -> pl.DataFrame:
    """Read a file, folder or glob in any supported format into the canonical table."""
    from curate.formats import load as _load

    return _load(path, format=format, **options)


def stats(data: str | Path | pl.DataFrame, *, format: str = "auto") -> dict[str, Any]:
    """Row counts, length percentiles, turns, formats and sources of a table, file or run dir."""
    from curate.report.describe import compute

    return compute(data, format=format)


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


__all__ = ["__version__", "load", "run", "stats"]
