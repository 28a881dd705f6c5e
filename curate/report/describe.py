"""Dataset statistics: one dict for notebooks and ``--json``, one rich table for terminals.

Everything is one polars ``select`` over whole columns, so stats on 1M rows take about a second.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from curate.fields import field_text, turn_count
from curate.pipeline.rundir import RunDir

LENGTH_FIELDS = ("system", "user", "assistant", "text")
QUANTILES = (0.05, 0.5, 0.95)


def _length_exprs(field: str) -> list[pl.Expr]:
    if field == "text":
        base = pl.when(pl.col("kind") == "text").then(pl.col("text").str.len_chars())
    elif field == "system":
        base = pl.col("system").str.len_chars()
    else:
        base = pl.when(pl.col("kind") == "chat").then(field_text(field).str.len_chars())  # type: ignore[arg-type]
    out = [
        base.mean().alias(f"{field}|mean"),
        base.max().alias(f"{field}|max"),
        base.count().alias(f"{field}|n"),
    ]
    out += [base.quantile(q, "nearest").alias(f"{field}|p{int(q * 100)}") for q in QUANTILES]
    return out


def _counts(df: pl.DataFrame, col: str, top: int = 50) -> dict[str, int]:
    if col not in df.columns:
        return {}
    vc = df.group_by(col).len().sort(["len", col], descending=[True, False], nulls_last=True).head(top)
    return {("(none)" if k is None else str(k)): int(n) for k, n in vc.iter_rows()}


def table_stats(df: pl.DataFrame) -> dict[str, Any]:
    """Counts, length percentiles (chars) per field, and turns per conversation."""
    if df.height == 0:
        return {"rows": 0, "kinds": {}, "sources": {}, "domains": {}, "tasks": {}, "lengths": {}, "turns": {}}
    row = df.select(
        *[e for f in LENGTH_FIELDS for e in _length_exprs(f)],
        pl.when(pl.col("kind") == "chat").then(turn_count()).alias("t").mean().alias("turns|mean"),
        pl.when(pl.col("kind") == "chat").then(turn_count()).alias("t").max().alias("turns|max"),
        pl.when(pl.col("kind") == "chat").then(turn_count()).alias("t").median().alias("turns|p50"),
        (pl.when(pl.col("kind") == "chat").then(turn_count() > 2)).mean().alias("turns|multi_turn_share"),
    ).row(0, named=True)
    lengths: dict[str, dict[str, float]] = {}
    turns: dict[str, float] = {}
    for key, val in row.items():
        field, stat = key.split("|")
        target = turns if field == "turns" else lengths.setdefault(field, {})
        target[stat] = None if val is None else round(float(val), 3)
    lengths = {f: v for f, v in lengths.items() if v.get("n")}
    return {
        "rows": df.height,
        "kinds": _counts(df, "kind"),
        "sources": _counts(df, "source"),
        "domains": _counts(df, "domain"),
        "tasks": _counts(df, "task", top=20),
        "lengths": lengths,
        "turns": turns if turns.get("mean") is not None else {},
    }


def compute(
    data: str | Path | pl.DataFrame, *, format: str = "auto", **source_options: Any
) -> dict[str, Any]:
    """Stats of a canonical table, a data file/folder/glob, or a run directory.

    ``source_options`` are a recipe source's reading options (columns, roles, file_type, ...).
    """
    if isinstance(data, pl.DataFrame):
        return {"path": None, "format": "canonical", "rejects": 0, **table_stats(data)}
    p = Path(data)
    if RunDir.is_run(p):
        manifest = RunDir.read_manifest(p)  # refuses a run that is running or was killed
        df = pl.read_parquet(p / "output" / "train.canonical.parquet")
        funnel = [
            {k: s[k] for k in ("index", "name", "rows_in", "kept", "removed", "reasons", "seconds")}
            for s in manifest["stages"]
        ]
        return {
            "path": str(p),
            "format": "run",
            "rejects": manifest.get("rejects", 0),
            "funnel": funnel,
            **table_stats(df),
        }
    from curate.formats import load_with_rejects

    res = load_with_rejects(p, format=format, **source_options)
    return {
        "path": str(p),
        "format": res.format,
        "rejects": res.rejects.height,
        "reject_reasons": reject_reasons(res.rejects),
        "reject_hint": res.hint,
        **table_stats(res.table),
    }


def reject_reasons(rejects: pl.DataFrame) -> dict[str, int]:
    """Rejected records by reason category (the part of ``error`` before the colon)."""
    if rejects.height == 0:
        return {}
    cat = rejects.select(pl.col("error").str.extract(r"^([a-z_0-9]+)", 1).fill_null("other").alias("c"))
    return _counts(cat, "c")


def render(stats: dict[str, Any]) -> list[Any]:
    """Rich renderables (tables) for ``curate stats``."""
    from rich.table import Table

    out: list[Any] = []
    head = Table(title=f"{stats.get('path') or 'table'}", show_header=False)
    head.add_row("rows", f"{stats['rows']:,}")
    head.add_row("format", str(stats.get("format")))
    reasons = ", ".join(f"{k}: {v:,}" for k, v in (stats.get("reject_reasons") or {}).items())
    head.add_row("rejected records", f"{stats.get('rejects', 0):,}" + (f" ({reasons})" if reasons else ""))
    if stats.get("reject_hint"):
        head.add_row("hint", stats["reject_hint"])
    for key in ("kinds", "sources", "domains", "tasks"):
        if stats.get(key):
            head.add_row(key, ", ".join(f"{k}: {v:,}" for k, v in stats[key].items()))
    if stats.get("turns"):
        t = stats["turns"]
        head.add_row(
            "turns/conversation",
            f"mean {t['mean']}, median {t['p50']}, max {t['max']}, "
            f"multi-turn {100 * (t.get('multi_turn_share') or 0):.0f}%",
        )
    out.append(head)
    if stats.get("lengths"):
        lt = Table(title="length in characters")
        for col in ("field", "rows", "p5", "p50", "p95", "mean", "max"):
            lt.add_column(col, justify="right" if col != "field" else "left")
        for f, v in stats["lengths"].items():
            lt.add_row(f, *(f"{v.get(k) or 0:,.0f}" for k in ("n", "p5", "p50", "p95", "mean", "max")))
        out.append(lt)
    if stats.get("funnel"):
        ft = Table(title="stages")
        for col in ("#", "stage", "in", "kept", "removed", "top reasons", "s"):
            ft.add_column(col)
        for s in stats["funnel"]:
            reasons = ", ".join(f"{k} {v}" for k, v in list(s["reasons"].items())[:3])
            ft.add_row(
                str(s["index"]),
                s["name"],
                f"{s['rows_in']:,}",
                f"{s['kept']:,}",
                f"{s['removed']:,}",
                reasons,
                f"{s['seconds']:.2f}",
            )
        out.append(ft)
    return out
