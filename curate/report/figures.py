"""Plotly figures of a run: the report embeds them, ``Run.plot_*`` returns them to a notebook.

Figures are plain dicts (``curate.report.fig.Fig``), not ``plotly.graph_objects``: the report
never imports plotly (its import and per-figure validation were ~75 % of the report's CPU time);
``Fig.figure()`` gives the ``Fig`` a notebook shows.

Histograms are binned here with numpy and drawn as bars, so a figure carries ~40 numbers per
series whatever the row count (a raw ``go.Histogram`` would embed every value: 1M rows = ~10 MB
of JSON per chart). Skewed distributions (p99 > 20 x median, all >= 0) are binned on log10 and
labelled in the original units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from curate.report.fig import Fig, nest, subplots

KEEP, DROP, SIDE, ADD, BASE = "#3b7dd8", "#e07b39", "#9a9a9a", "#5a9e6f", "#b0b0b0"
BINS = 40
_LAYOUT: dict[str, Any] = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
    "height": 320,
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "legend": {"orientation": "h", "y": -0.2},
}


def _fig(title: str, **layout: Any) -> Fig:
    return Fig({**_LAYOUT, "title": {"text": title, "x": 0}, **nest(layout)})


def _skewed(v: np.ndarray) -> bool:
    if v.size < 10 or v.min() < 0:
        return False
    p50, p99 = np.percentile(v, [50, 99])
    return p99 > 20 * max(p50, 1.0)


def _bins(values: list[np.ndarray]) -> tuple[np.ndarray, bool]:
    allv = np.concatenate([v for v in values if v.size]) if any(v.size for v in values) else np.zeros(1)
    log = _skewed(allv)
    if log:
        allv = np.log10(np.clip(allv, 1, None))
    lo, hi = float(allv.min()), float(allv.max())
    if not log and hi - lo <= BINS and np.all(allv == np.round(allv)):  # small counts: one bar per integer
        return np.arange(lo - 0.5, hi + 1.5), False
    if hi == lo:
        hi = lo + 1
    return np.linspace(lo, hi, BINS + 1), log


def _counts(a: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(a, bins=edges)[0]``. The edges are evenly spaced, so numpy's equal-width path
    is taken (an index computed per value, then checked against the edges: the same counts); given
    the edges themselves numpy sorts the values first (~4 ms per 100k; the report of the bench's
    12 rule-filter scores spent ~0.05 s there)."""
    n = len(edges) - 1
    if n > 0 and np.array_equal(np.linspace(edges[0], edges[-1], n + 1), edges):
        return np.histogram(a, bins=n, range=(float(edges[0]), float(edges[-1])))[0]
    return np.histogram(a, bins=edges)[0]


def _np(s: pl.Series | list[Any]) -> np.ndarray:
    a = pl.Series(s, dtype=pl.Float64) if isinstance(s, list) else s.cast(pl.Float64)
    a = a.drop_nulls().drop_nans()
    return a.to_numpy()


def _log_ticks(fig: Fig, edges: np.ndarray, axis: str = "xaxis") -> None:
    ks = range(math.floor(edges[0]), math.ceil(edges[-1]) + 1)
    fig.update_layout({axis: {"tickvals": list(ks), "ticktext": [f"{10**k:,.0f}" for k in ks]}})


def hist(
    series: dict[str, pl.Series],
    title: str,
    *,
    stacked: bool = False,
    colors: list[str] | None = None,
    xlabel: str = "",
) -> tuple[Fig, np.ndarray, bool]:
    """Bars of several series on shared bins; returns the figure, the bin edges and whether log10."""
    arrays = {k: _np(v) for k, v in series.items()}
    edges, log = _bins(list(arrays.values()))
    fig = _fig(title, barmode="stack" if stacked else "overlay", bargap=0.02)
    centers = (edges[:-1] + edges[1:]) / 2
    for i, (name, a) in enumerate(arrays.items()):
        a = np.log10(np.clip(a, 1, None)) if log else a
        counts = _counts(a, edges)
        lo = 10 ** edges[:-1] if log else edges[:-1]
        hi = 10 ** edges[1:] if log else edges[1:]
        fig.add_bar(
            x=centers.tolist(),
            y=counts.tolist(),
            name=f"{name} ({a.size:,})",
            width=float(edges[1] - edges[0]),
            marker_color=(colors or [KEEP, DROP, ADD, SIDE])[i % 4],
            opacity=1.0 if stacked else 0.6,
            customdata=np.stack([lo, hi], axis=1).tolist(),
            hovertemplate="%{customdata[0]:,.4g} – %{customdata[1]:,.4g}: %{y:,} rows<extra></extra>",
        )
    fig.update_xaxes(title_text=xlabel + (" (log scale)" if log else ""))
    fig.update_yaxes(title_text="rows")
    if log:
        _log_ticks(fig, edges)
    return fig, edges, log


def thresholds(removed: pl.DataFrame, col: str) -> list[dict[str, Any]]:
    """The thresholds that removed rows on ``col``: reason, value and which side was removed.

    A stage writes the triggering statistic to ``value``; a reason belongs to ``col`` when its
    removed rows' ``value`` equals ``col`` (the stage may add several scores).
    """
    if not removed.height or col not in removed.columns or "threshold" not in removed.columns:
        return []
    out = []
    rows = removed.select(
        "reason", "value", pl.col(col).cast(pl.Float64), pl.col("threshold").cast(pl.String)
    )
    for (reason,), g in rows.group_by("reason", maintain_order=True):  # a stable report
        t = g["threshold"].drop_nulls()
        try:
            thr = float(t[0]) if t.len() else None
        except ValueError:
            thr = None
        same = g.select(((pl.col("value") - pl.col(col)).abs() < 1e-6).fill_null(False).all()).item()
        if thr is None or not same:
            continue
        side = "below" if (g[col].drop_nulls().mean() or 0) < thr else "above"
        out.append({"reason": reason, "threshold": thr, "side": side})
    return out


def score_hist(scores: pl.DataFrame, col: str, thr: list[dict[str, Any]]) -> Fig:
    """A score's distribution, kept and removed stacked; each threshold drawn, its removed side shaded."""
    values, removed = scores[col], scores["removed"]  # one column filtered, not the whole frame
    kept, rem = values.filter(~removed), values.filter(removed)
    fig, edges, log = hist({"kept": kept, "removed": rem}, col, stacked=True, xlabel=col)
    for t in thr:
        x = math.log10(max(t["threshold"], 1)) if log else t["threshold"]
        x0, x1 = (edges[0], x) if t["side"] == "below" else (x, edges[-1])
        fig.add_vrect(x0=min(x0, x1), x1=max(x0, x1), fillcolor=DROP, opacity=0.12, line_width=0)
        fig.add_vline(
            x=x,
            line_dash="dash",
            line_color=DROP,
            annotation_text=f"{t['reason']}: {t['threshold']:g}",
            annotation_position="top",
        )
    return fig


def funnel(stages: list[dict[str, Any]]) -> Fig:
    """Rows per stage: kept, removed, sent to a side output (e.g. the eval split), added (repeats)."""
    names = [f"{s['index']:02d} {s['name']}" for s in stages][::-1]
    parts = [
        ("kept", KEEP, [s["kept"] - s.get("added", 0) for s in stages]),
        ("added (repeats)", ADD, [s.get("added", 0) for s in stages]),
        ("removed", DROP, [s["removed"] for s in stages]),
        ("side output", SIDE, [sum((s.get("side") or {}).values()) for s in stages]),
    ]
    fig = _fig("Rows per stage", barmode="stack", height=max(260, 28 * len(stages) + 90))
    fig.update_layout(legend_traceorder="normal")
    for label, color, vals in parts:
        if any(vals) or label == "kept":
            fig.add_bar(
                y=names,
                x=vals[::-1],
                name=label,
                orientation="h",
                marker_color=color,
                hovertemplate="%{y}: %{x:,} " + label + "<extra></extra>",
            )
    fig.update_xaxes(title_text="rows")
    return fig


def bars(
    labels: list[str],
    values: dict[str, list[float]],
    title: str,
    *,
    ytitle: str = "",
    colors: list[str] | None = None,
    height: int = 320,
) -> Fig:
    """Grouped bars: one series per key of ``values``."""
    fig = _fig(title, barmode="group", height=height)
    for i, (name, vals) in enumerate(values.items()):
        fig.add_bar(x=labels, y=vals, name=name, marker_color=(colors or [KEEP, DROP, ADD, SIDE])[i % 4])
    fig.update_yaxes(title_text=ytitle)
    return fig


def mix(stages: list[dict[str, Any]]) -> Fig | None:
    """Output mix per group: share of rows, tokens and assistant tokens, beside the target share."""
    st = next(
        (s["stats"] for s in stages if s["name"].startswith("mix.") and s.get("stats", {}).get("groups")),
        None,
    )
    if not st:
        return None
    g = st["groups"]
    labels = [str(x["group"]) for x in g]
    vals = {"target": [x.get("target_share") for x in g]}
    for key, name in (
        ("share_rows", "rows"),
        ("share_tokens", "tokens"),
        ("share_assistant_tokens", "assistant tokens"),
    ):
        if any(key in x for x in g):
            vals[name] = [x.get(key) for x in g]
    fig = bars(
        labels,
        vals,
        f"Output mix by {st.get('by', 'group')}: share, target vs achieved",
        ytitle="share",
        colors=[BASE, KEEP, ADD, DROP],
    )
    fig.update_yaxes(tickformat=".0%")
    return fig


def lengths(
    before: pl.DataFrame | pl.LazyFrame, after: pl.DataFrame | pl.LazyFrame, field: str = "all"
) -> Fig:
    """Characters of ``field`` before the first stage and in the output (frames or lazy scans: a
    scan is counted by polars' streaming engine, one row group at a time)."""
    from curate.fields import field_text

    def chars(df: pl.DataFrame | pl.LazyFrame) -> pl.Series:
        n = df.lazy().select(field_text(field).str.len_chars().alias("n")).collect(engine="streaming")["n"]
        return n if n.len() else pl.Series([])

    return hist(
        {"input": chars(before), "output": chars(after)},
        f"{field} characters",
        colors=[BASE, KEEP],
        xlabel="characters",
    )[0]


def loss(metrics: pl.DataFrame, final_eval: float | None = None) -> Fig | None:
    """Train and eval loss per step; ``final_eval`` (the manifest's, measured after the last step)
    is drawn at the last step when the metrics file has no eval point there."""
    if not metrics.height or "step" not in metrics.columns:
        return None
    fig = _fig("Loss", xaxis_title_text="step", yaxis_title_text="loss")
    last = metrics["step"].max()
    for col, color in (("loss", KEEP), ("eval_loss", DROP)):
        if col in metrics.columns:
            d = metrics.select("step", col).drop_nulls()
            x, y = d["step"].to_list(), d[col].to_list()
            if col == "eval_loss" and final_eval is not None and last not in x:
                x, y = [*x, last], [*y, final_eval]
            fig.add_scatter(x=x, y=y, name=col, mode="lines+markers", line_color=color)
    return fig


def train_rate(metrics: pl.DataFrame) -> Fig | None:
    """Learning rate and throughput per step."""
    have = [c for c in ("lr", "tokens_per_s") if c in metrics.columns]
    if not have:
        return None
    fig = subplots(len(have), have, {**_LAYOUT, "showlegend": False})
    for i, col in enumerate(have, start=1):
        d = metrics.select("step", col).drop_nulls()
        fig.add_scatter(
            x=d["step"].to_list(),
            y=d[col].to_list(),
            name=col,
            mode="lines+markers",
            row=1,
            col=i,
            line_color=KEEP,
        )
    return fig
