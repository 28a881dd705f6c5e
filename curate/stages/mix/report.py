"""What a mixing stage planned and achieved, as JSON-able stats and as a rich Table.

Every mixing stage puts ``stats["groups"]``: one dict per domain/source/task with its input rows,
target share, achieved shares (rows, tokens, assistant tokens, chars when measured) and the repeats
used. The runner writes the dict to the manifest; the CLI draws it with ``stats_table``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from curate.stages.mix.allocate import group_expr

# measure column -> (total key, share key) in a group's stats
MEASURES: dict[str, tuple[str, str]] = {
    "score_tokens_rendered": ("tokens", "share_tokens"),
    "score_tokens_assistant": ("assistant_tokens", "share_assistant_tokens"),
    "score_chars_all": ("chars", "share_chars"),
}


def achieved(kept: pl.DataFrame, *, by: str) -> dict[str, dict[str, Any]]:
    """Per group of ``kept``: rows, share of rows, and totals/shares of each measured column."""
    cols = [c for c in MEASURES if c in kept.columns]
    if kept.height == 0:
        return {}
    agg = kept.group_by(group_expr(by).alias("g"), maintain_order=True).agg(
        pl.len().alias("rows"), *[pl.col(c).fill_null(0).sum().alias(c) for c in cols]
    )
    totals = {c: agg[c].sum() for c in cols}
    out: dict[str, dict[str, Any]] = {}
    for r in agg.iter_rows(named=True):
        d: dict[str, Any] = {"rows_out": int(r["rows"]), "share_rows": round(r["rows"] / kept.height, 4)}
        for c in cols:
            total_key, share_key = MEASURES[c]
            d[total_key] = int(r[c])
            d[share_key] = round(r[c] / totals[c], 4) if totals[c] else 0.0
        out[r["g"]] = d
    return out


def merge_groups(
    planned: Sequence[Mapping[str, Any]],
    kept: pl.DataFrame,
    *,
    by: str,
    target_shares: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Join the allocator's per-group plan with what ``kept`` achieved."""
    got = achieved(kept, by=by)
    rows = []
    for g in planned:
        d = dict(g)
        if target_shares is not None:
            d["target_share"] = round(float(target_shares.get(g["group"], 0.0)), 4)
        d.update(got.get(g["group"], {"rows_out": 0, "share_rows": 0.0}))
        rows.append(d)
    return rows


_ORDER = (
    "group", "rows_in", "target_share", "units_in", "units_target", "units_out", "rows_out", "share_rows",
    "tokens", "share_tokens", "assistant_tokens", "share_assistant_tokens", "chars", "share_chars",
    "repeats", "max_copies_used", "met",
)  # fmt: skip


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


def stats_table(stats: Mapping[str, Any], *, title: str | None = None) -> Any:
    """A rich Table of a stage's stats: one line per group, scalar stats in the caption.

    Flat stats (no ``groups``) become a two-column key/value table.
    """
    from rich.table import Table

    scalars = {k: v for k, v in stats.items() if not isinstance(v, (list, dict))}
    groups = stats.get("groups")
    if not groups:
        t = Table(title=title, show_header=True)
        t.add_column("stat")
        t.add_column("value", justify="right")
        for k, v in scalars.items():
            t.add_row(k, _fmt(v))
        return t
    keys = [k for k in _ORDER if any(k in g for g in groups)]
    keys += [k for k in groups[0] if k not in keys and not isinstance(groups[0][k], (list, dict))]
    caption = ", ".join(f"{k}={_fmt(v)}" for k, v in scalars.items())
    t = Table(title=title, caption=caption or None, show_header=True)
    for k in keys:
        t.add_column(k.replace("_", " "), justify="left" if k == "group" else "right")
    for g in groups:
        t.add_row(*(_fmt(g.get(k)) for k in keys))
    return t
