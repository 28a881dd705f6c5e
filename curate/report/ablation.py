"""The ablation drawn: ``ablation.json`` (every run and the per-variant mean/sd), a Markdown table and an
SVG chart (mean bars with +-1 sd whiskers, one panel per metric), plus ``ablation_html`` for the report.

The chart is plain SVG written here (no plotting dependency), so it opens in a browser, renders in
a GitHub README and can be inlined into report.html as it is.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

COLUMNS = (
    ("train_rows", "rows", "{:.0f}"),
    ("tokens_seen", "train tokens", "{:.0f}"),
    ("mcq_accuracy", "MCQ acc", "{:.3f}"),
    ("forgetting_pct", "general loss vs base %", "{:+.2f}"),
    ("train_seconds", "train s", "{:.0f}"),
)
PALETTE = ("#888888", "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d")


def _loss_cols(summary: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    keys = sorted({k for v in summary.values() for k in v if k.startswith("loss_")})
    return [(k, f"{k[5:]} loss", "{:.4f}") for k in keys]


def _mcq_cols(summary: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """MCQ accuracy per item set (``mcq_lawbench_mcq``, ``mcq_held_out``), after the overall one."""
    keys = sorted({k for v in summary.values() for k in v if k.startswith("mcq_") and k != "mcq_accuracy"})
    return [(k, f"MCQ {k[4:]}", "{:.3f}") for k in keys]


def _cell(stat: dict[str, Any] | None, fmt: str) -> str:
    if not stat:
        return "–"
    s = fmt.format(stat["mean"])
    return s + (f" ± {fmt.format(stat['sd']).lstrip('+')}" if stat.get("n", 1) > 1 else "")


def ablation_markdown(result: dict[str, Any]) -> str:
    """The table: one line per variant (base first), mean ± sd over seeds."""
    summ = result["summary"]
    cols = _loss_cols(summ) + list(COLUMNS[:3]) + _mcq_cols(summ) + list(COLUMNS[3:])
    lines = [
        f"Recipe `{result['recipe']}`, model `{result['model']}`: {result['steps']} optimizer steps x batch "
        f"{result['batch_size']} x max_len {result['max_len']} (token budget <= {result['token_budget']:,}), "
        f"{result['seeds']} seed(s); held out: {result['eval_rows']} rows {result['eval_domains']}, "
        f"{result['mcq_items']} MCQ items; pool {result['pool_rows']:,} rows, "
        f"curated {result['curated_rows']:,}."
        + (f" Held-out rows over max_len, not measured: {d}." if (d := result.get("eval_dropped")) else "")
        + (
            f" **Partial: {len(result['runs'])} of {result.get('runs_planned', '?')} runs.**"
            if result.get("complete") is False
            else ""
        ),
        "",
        "| variant | " + " | ".join(c[1] for c in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for v in ["base", *[k for k in summ if k != "base"]]:
        lines.append(f"| {v} | " + " | ".join(_cell(summ[v].get(k), f) for k, _, f in cols) + " |")
    return "\n".join(lines) + "\n"


def ablation_svg(result: dict[str, Any], *, panel_w: int = 230, panel_h: int = 170) -> str:
    """One bar panel per metric (losses, MCQ accuracy, forgetting): mean bars, +-1 sd whiskers."""
    summ = result["summary"]
    metrics = (
        [(k, t) for k, t, _ in _loss_cols(summ)]
        + [("mcq_accuracy", "MCQ acc")]
        + [(k, t) for k, t, _ in _mcq_cols(summ)]
        + [("forgetting_pct", "general loss vs base %")]
    )
    metrics = [(k, t) for k, t in metrics if any(k in v for v in summ.values())]
    names = ["base", *[k for k in summ if k != "base"]]
    w, top, bottom = panel_w * max(len(metrics), 1), 22, 38
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{panel_h}" font-family="sans-serif" '
        'font-size="10">'
    ]
    for p, (key, title) in enumerate(metrics):
        x0 = p * panel_w
        stats = [(n, summ[n].get(key)) for n in names]
        vals = (
            [s["mean"] + s["sd"] for _, s in stats if s]
            + [s["mean"] - s["sd"] for _, s in stats if s]
            + [0.0]
        )
        lo, hi = min(vals), max(vals)
        span = (hi - lo) or 1.0
        y = lambda v, lo=lo, span=span: top + (panel_h - top - bottom) * (1 - (v - lo) / span)  # noqa: E731
        out.append(
            f'<text x="{x0 + panel_w / 2}" y="14" text-anchor="middle" font-weight="bold">'
            f"{html.escape(title)}</text>"
        )
        out.append(
            f'<line x1="{x0 + 8}" x2="{x0 + panel_w - 8}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#999"/>'
        )
        bw = (panel_w - 20) / max(len(names), 1)
        for i, (n, s) in enumerate(stats):
            if not s:
                continue
            bx = x0 + 10 + i * bw
            y0, y1 = sorted((y(0), y(s["mean"])))
            out.append(
                f'<rect x="{bx + 2:.1f}" y="{y0:.1f}" width="{bw - 4:.1f}" height="{max(y1 - y0, 0.5):.1f}" '
                f'fill="{PALETTE[i % len(PALETTE)]}"><title>{html.escape(n)}: {s["mean"]} ± {s["sd"]} '
                f"(n={s['n']})</title></rect>"
            )
            if s["sd"]:
                cx = bx + bw / 2
                out.append(
                    f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(s["mean"] - s["sd"]):.1f}" '
                    f'y2="{y(s["mean"] + s["sd"]):.1f}" stroke="#000"/>'
                )
            out.append(
                f'<text x="{bx + bw / 2:.1f}" y="{panel_h - bottom + 12}" text-anchor="middle">'
                f"{html.escape(n)}</text>"
            )
            out.append(
                f'<text x="{bx + bw / 2:.1f}" y="{panel_h - bottom + 24}" text-anchor="middle" '
                f'fill="#555">{s["mean"]:.3g}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


def ablation_html(result: dict[str, Any]) -> str:
    """A standalone report section: the chart and the table (the report can inline it as is)."""
    summ = result["summary"]
    cols = _loss_cols(summ) + list(COLUMNS[:3]) + _mcq_cols(summ) + list(COLUMNS[3:])
    head = "".join(f"<th>{html.escape(c[1])}</th>" for c in cols)
    body = "".join(
        f"<tr><td>{html.escape(v)}</td>"
        + "".join(f"<td>{_cell(summ[v].get(k), f)}</td>" for k, _, f in cols)
        + "</tr>"
        for v in ["base", *[k for k in summ if k != "base"]]
    )
    return (
        f'<section id="ablation"><h2>Ablation: curated vs raw, random-k, longest-k</h2>'
        f"<p>{html.escape(ablation_markdown(result).splitlines()[0])}</p>{ablation_svg(result)}"
        f"<table><tr><th>variant</th>{head}</tr>{body}</table></section>"
    )


def write_ablation(result: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """``ablation.json``, ``ablation.md``, ``ablation.svg`` and ``ablation.html`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "ablation.json",
        "md": out_dir / "ablation.md",
        "svg": out_dir / "ablation.svg",
        "html": out_dir / "ablation.html",
    }
    paths["json"].write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    paths["md"].write_text(ablation_markdown(result) + "\n![ablation](ablation.svg)\n", encoding="utf-8")
    paths["svg"].write_text(ablation_svg(result), encoding="utf-8")
    paths["html"].write_text(
        f"<!doctype html><meta charset='utf-8'><body>{ablation_html(result)}</body>", encoding="utf-8"
    )
    return paths
