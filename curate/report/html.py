"""``report.html``: the run drawn, from the manifest and the run's Parquet files.

One self-contained file (inline SVG, no scripts, no network) so it opens anywhere and can be
attached to a ticket: funnel, removal reasons, output mix and licenses, length histograms,
stage stats and the loss curve.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import polars as pl

from curate.fields import field_text
from curate.pipeline.rundir import RunDir

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:0}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}small{color:#666}
table{border-collapse:collapse;margin:.5rem 0}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}pre{background:#f6f6f6;padding:.6rem;overflow:auto;max-height:22rem}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}svg text{font:11px system-ui,sans-serif}
"""
_KEEP, _DROP, _BAR = "#3b7dd8", "#e07b39", "#5a9e6f"


def _e(s: Any) -> str:
    return html.escape(str(s))


def _hbars(rows: list[tuple[str, float, float]], *, width: int = 760) -> str:
    """Horizontal stacked bars: (label, kept, removed)."""
    if not rows:
        return "<p><small>nothing to draw</small></p>"
    top = max(k + r for _, k, r in rows) or 1
    lab, h = 230, 22
    out = [f'<svg width="{width}" height="{h * len(rows) + 6}" role="img">']
    for i, (name, kept, rem) in enumerate(rows):
        y, scale = i * h + 3, (width - lab - 90) / top
        out.append(f'<text x="0" y="{y + 14}">{_e(name[:38])}</text>')
        out.append(f'<rect x="{lab}" y="{y}" width="{kept * scale:.1f}" height="{h - 6}" fill="{_KEEP}"/>')
        out.append(
            f'<rect x="{lab + kept * scale:.1f}" y="{y}" width="{rem * scale:.1f}" height="{h - 6}" '
            f'fill="{_DROP}"/>'
        )
        label = f"{kept:,.0f}" + (f" (−{rem:,.0f})" if rem else "")
        out.append(f'<text x="{lab + (kept + rem) * scale + 4:.1f}" y="{y + 14}">{label}</text>')
    out.append("</svg>")
    return "".join(out)


def _hist(values: list[float], *, title: str, bins: int = 30, width: int = 500, height: int = 160) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    if hi == lo:
        hi = lo + 1
    counts = [0] * bins
    for v in vals:
        counts[min(int((v - lo) / (hi - lo) * bins), bins - 1)] += 1
    top, bw = max(counts), (width - 40) / bins
    out = [
        f"<div><b>{_e(title)}</b> <small>n={len(vals):,}, range {lo:,.0f}–{hi:,.0f}</small>"
        f'<svg width="{width}" height="{height + 20}">'
    ]
    for i, c in enumerate(counts):
        bh = c / top * height
        out.append(
            f'<rect x="{30 + i * bw:.1f}" y="{height - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}" '
            f'fill="{_BAR}"><title>{lo + i * (hi - lo) / bins:,.0f}+: {c}</title></rect>'
        )
    out.append(
        f'<text x="30" y="{height + 14}">{lo:,.0f}</text><text x="{width - 60}" y="{height + 14}">'
        f"{hi:,.0f}</text></svg></div>"
    )
    return "".join(out)


def _curve(points: dict[str, list[tuple[float, float]]], *, width: int = 760, height: int = 220) -> str:
    allp = [p for ps in points.values() for p in ps]
    if not allp:
        return ""
    x0, x1 = min(p[0] for p in allp), max(p[0] for p in allp) or 1
    y0, y1 = min(p[1] for p in allp), max(p[1] for p in allp)
    y1 = y1 if y1 > y0 else y0 + 1
    colors = iter([_KEEP, _DROP, _BAR, "#888"])
    out = [f'<svg width="{width}" height="{height + 30}">']
    for name, ps in points.items():
        c = next(colors)
        xy = " ".join(
            f"{40 + (x - x0) / max(x1 - x0, 1) * (width - 60):.1f},"
            f"{10 + (1 - (y - y0) / (y1 - y0)) * height:.1f}"
            for x, y in ps
        )
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{xy}"/>')
        if len(ps) <= 30:  # sparse series (eval every N steps): mark each point, one point stays visible
            for p in xy.split():
                cx, cy = p.split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{c}"/>')
        out.append(
            f'<text x="{width - 140}" y="{20 + 14 * list(points).index(name)}" fill="{c}">{_e(name)}</text>'
        )
    out.append(
        f'<text x="0" y="18">{y1:.3f}</text><text x="0" y="{height + 10}">{y0:.3f}</text>'
        f'<text x="40" y="{height + 26}">step {x0:.0f}</text>'
        f'<text x="{width - 80}" y="{height + 26}">step {x1:.0f}</text></svg>'
    )
    return "".join(out)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{v:,}</td>'
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            else f"<td>{_e(v)}</td>"
            for v in r
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def _loss_points(train_dir: Path) -> dict[str, list[tuple[float, float]]]:
    p = train_dir / "metrics.jsonl"
    pts: dict[str, list[tuple[float, float]]] = {}
    if not p.exists():
        return pts
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        for key in ("loss", "eval_loss"):
            if isinstance(rec.get(key), (int, float)) and "step" in rec:
                pts.setdefault(key, []).append((float(rec["step"]), float(rec[key])))
    return pts


def render(rd: RunDir, m: dict[str, Any]) -> str:
    """The report as an HTML string."""
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>curate: {_e(m['name'])}</title><style>{_CSS}</style>",
        f"<h1>{_e(m['name'])}</h1><small>curate {_e(m['versions'].get('curate'))} · seed {m['seed']} · "
        f"{m['output']['rows']:,} output rows · {m.get('rejects', 0):,} rejected input records · "
        f"{m['timings'].get('total_s', 0):.1f}s</small>",
    ]
    if m.get("warnings"):
        items = "".join(f"<li>{_e(w)}</li>" for w in m["warnings"])
        parts.append(f"<h2>Warnings</h2><ul class='warn'>{items}</ul>")
    parts.append("<h2>Funnel</h2><p><small>blue: kept, orange: removed (per stage)</small></p>")
    parts.append(_hbars([(f"{s['index']:02d} {s['name']}", s["kept"], s["removed"]) for s in m["stages"]]))
    rows = [[s["name"], r, n] for s in m["stages"] for r, n in s["reasons"].items()]
    rows += [[s["name"], "(repeats added, not removed)", s["added"]] for s in m["stages"] if s.get("added")]
    parts.append(
        "<h2>Why rows were removed</h2>"
        + (_table(["stage", "reason", "rows"], rows) if rows else "<p>nothing removed</p>")
    )
    parts.append(
        "<h2>Sources and licenses</h2>"
        + _table(
            ["source", "format", "read", "rejected", "domain", "license"],
            [
                [s["name"], s["format"], s["rows"], s["rejects"], s["domain"], s.get("license") or "unknown"]
                for s in m["sources"]
            ],
        )
    )
    lic = m["output"].get("licenses") or []
    if lic:
        parts.append("<p>In the output:</p>" + _table(list(lic[0]), [list(d.values()) for d in lic]))
    out_p = rd.output / "train.canonical.parquet"
    if out_p.exists():
        df = pl.read_parquet(out_p)
        if df.height:
            mix = df.group_by("domain", "source").len().sort("len", descending=True)
            parts.append(
                "<h2>Output mix</h2>" + _hbars([(f"{d} / {s}", n, 0) for d, s, n in mix.iter_rows()])
            )
            lens = df.select(
                pl.when(pl.col("kind") == "chat").then(field_text("user").str.len_chars()).alias("user"),
                pl.when(pl.col("kind") == "chat")
                .then(field_text("assistant").str.len_chars())
                .alias("assistant"),
                pl.when(pl.col("kind") == "text").then(pl.col("text").str.len_chars()).alias("text"),
                pl.col("messages").list.len().alias("turns"),
            )
            hists = [
                _hist(lens[c].drop_nulls().to_list(), title=f"{c} chars" if c != "turns" else "turns")
                for c in lens.columns
            ]
            parts.append("<h2>Lengths in the output</h2><div class='grid'>" + "".join(hists) + "</div>")
    stats = [(s["name"], s["stats"]) for s in m["stages"] if s.get("stats") and s["name"] != "read"]
    if stats:
        parts.append(
            "<h2>Stage details</h2>"
            + "".join(
                f"<h3>{_e(n)}</h3><pre>{_e(json.dumps(st, indent=2, ensure_ascii=False, default=str))}</pre>"
                for n, st in stats
            )
        )
    if m.get("train"):
        parts.append("<h2>Training</h2>" + _curve(_loss_points(rd.train)))
        parts.append(
            _table(
                ["metric", "value"],
                [[k, v] for k, v in m["train"].items() if isinstance(v, (int, float, str))],
            )
        )
    if m.get("eval"):
        parts.append(_eval_section(m["eval"]))
    rej = rd.rejects
    if rej.exists():
        r = pl.read_parquet(rej)
        if r.height:
            head = r.head(20).select("origin", "error")
            parts.append(
                "<h2>Rejected input (first 20)</h2>"
                + _table(head.columns, [list(x) for x in head.iter_rows()])
            )
    return "".join(parts)


def _eval_section(ev: dict[str, Any]) -> str:
    """``curate eval`` results: MCQ accuracy and eval loss per domain, base model beside the adapter."""
    rows = [
        [f"MCQ accuracy: {k}", v["items"], v["base_accuracy"], v["adapter_accuracy"], v["chance"]]
        for k, v in ev.get("mcq", {}).items()
    ]
    rows += [
        [f"eval loss: {d}", v["examples"], v["base"], v["adapter"], ""]
        for d, v in ev.get("eval_loss_by_domain", {}).items()
    ]
    o = ev.get("open_ended") or {}
    note = (
        f"<p>Model answers to {o['answered']} of {o['of']} open-ended prompts: "
        "<a href='eval/open_ended.html'>eval/open_ended.html</a> (rate them there).</p>"
        if o
        else ""
    )
    head = ["metric", "items", "base", "adapter", "chance"]
    return (
        f"<h2>Evaluation</h2><p><small>options scored by {_e(ev.get('score'))} log-likelihood</small></p>"
        + (_table(head, rows) + note)
    )


def write_report(rd: RunDir, manifest: dict[str, Any]) -> Path:
    """Write ``report.html`` into the run directory and return its path."""
    rd.report.write_text(render(rd, manifest), encoding="utf-8")
    return rd.report
