"""``report.html``: the run drawn, one self-contained file that opens offline and can be emailed.

Charts are plotly figures (``figures.py``) with plotly.js inlined once (4.6 MB of the file; see
docs/report.md for why plotly over matplotlib SVG or Vega-Lite). Each section reads the run through
:class:`curate.report.explore.Run` and returns "" when the run has no data for it, so sections
appear as stages, training and eval add their columns and manifest keys.
"""

from __future__ import annotations

import html
import itertools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go
    import polars as pl

    from curate.pipeline.rundir import RunDir
    from curate.report.fig import Fig

log = logging.getLogger(__name__)

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1150px;color:#222;padding:0 1rem}
h1{margin-bottom:0}h2{margin-top:2.4rem;border-bottom:1px solid #ddd}h3{margin-bottom:.3rem}
small,.muted{color:#666}table{border-collapse:collapse;margin:.5rem 0;font-size:13px}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.t{max-width:480px;white-space:pre-wrap}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.chart{min-height:260px}
.warn{background:#fff4e5;border-left:4px solid #e07b39;padding:.4rem .8rem;margin:.3rem 0}
.ok{background:#eef7ee;border-left:4px solid #5a9e6f;padding:.4rem .8rem}
nav a{margin-right:.8rem}.pair{display:grid;grid-template-columns:1fr 1fr;gap:.6rem}
.pair div{background:#f7f7f7;padding:.4rem;white-space:pre-wrap;font-size:13px}
"""
_ids = itertools.count()


def e(s: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(s))


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f'<td class="n">{v:,.4g}</td>'
    if isinstance(v, int) and not isinstance(v, bool):
        return f'<td class="n">{v:,}</td>'
    if v is None:
        return '<td class="muted">–</td>'
    s = str(v)
    return f'<td class="t">{e(s)}</td>' if len(s) > 60 else f"<td>{e(s)}</td>"


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A plain HTML table; numbers right-aligned, long text wrapped."""
    th = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def chart(fig: Fig | go.Figure | None) -> str:
    """A figure as a ``<div class="chart">`` that the inlined plotly.js draws on load.

    A ``Fig`` (plain dicts) is serialized with orjson; a ``go.Figure`` (a caller's own) goes
    through its ``to_plotly_json``. Either way the markup is what ``Figure.to_html`` writes.
    """
    if fig is None:
        return ""
    div_id = f"chart-{next(_ids)}"
    if hasattr(fig, "to_plotly_json"):
        import plotly.io as pio

        spec = pio.to_json(fig, validate=False).replace("</", "<\\/")
        height = fig.layout.height
    else:
        spec, height = fig.to_json(), fig.layout.get("height")
    config = '{"displaylogo": false, "responsive": true}'
    style = f"height:{height}px; width:100%;" if height else "height:100%; width:100%;"
    return (
        f'<div class="chart"><div id="{div_id}" class="plotly-graph-div" style="{style}"></div>'
        f'<script type="text/javascript">(function(){{var f={spec};'
        f'Plotly.newPlot("{div_id}", f.data, f.layout, {config});}})();</script></div>'
    )


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{e(title)}</h2>{body}</section>' if body else ""


def _drawn(fn: Callable[[Any], str], run: Any, title: str) -> str:
    """One section's HTML; a section that fails says so in the page instead of losing the report.

    The report is the last step of a run (after hours of training, perhaps) and reads files that
    other tools may have edited, so a damaged file costs one section, not the report.
    """
    try:
        return fn(run)
    except Exception as exc:  # any failure becomes a visible note, logged once
        log.warning("report: %s could not be drawn: %s", title, exc)
        return f'<div class="warn">This section could not be drawn: {e(type(exc).__name__)}: {e(exc)}</div>'


def render(root: Path, *, output: pl.DataFrame | None = None) -> str:
    """The report of the run in ``root`` as an HTML string. ``output``: the run's train table, when
    the caller holds it (``app`` just wrote it): the sections read it instead of the Parquet file."""
    from curate.report import sections, sections_run
    from curate.report.explore import Run

    run = Run(root, output=output)
    m = run.manifest
    parts = [
        (anchor, title, _drawn(fn, run, title))
        for anchor, title, fn in (
            ("warnings", "Warnings", sections.warnings),
            ("funnel", "Funnel", sections.funnel),
            ("scores", "Scores and thresholds", sections.scores),
            ("duplicates", "Duplicates", sections.duplicates),
            ("lengths", "Lengths and turns", sections.lengths),
            ("mix", "Output mix", sections.mix),
            ("tags", "Clusters and tags", sections.tags),
            ("training", "Training", sections_run.training),
            ("eval", "Evaluation", sections_run.evaluation),
            ("ablation", "Ablation: curated vs raw, random and longest", sections_run.ablation),
            ("sources", "Sources and licenses", sections_run.sources),
            ("details", "Stage details and files", sections_run.details),
            ("rejects", "Rejected input", sections_run.rejects),
        )
    ]
    nav = "".join(f'<a href="#{a}">{e(t)}</a>' for a, t, b in parts if b)
    head = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>curate: {e(m['name'])}</title>"
        f"<style>{CSS}</style><script>{plotly_js()}</script></head><body>"
        f"<h1>{e(m['name'])}</h1><small>curate {e(m['versions'].get('curate'))} · seed {m['seed']} · "
        f"{m['output']['rows']:,} output rows · {m.get('rejects', 0):,} rejected input records · "
        f"{m['timings'].get('total_s', 0):.1f}s</small><nav>{nav}</nav>"
    )
    return head + "".join(section(a, t, b) for a, t, b in parts) + "</body></html>"


def plotly_js() -> str:
    """plotly.js as shipped in the plotly package, read from its file without importing plotly
    (``plotly.offline.get_plotlyjs`` imports plotly.io and more: ~0.3 s)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("plotly is not installed: the report inlines its plotly.js")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return (folder / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


def write_report(rd: RunDir, manifest: dict[str, Any] | None = None) -> Path:
    """Write ``report.html`` into the run directory (from its manifest.json) and return its path.

    ``manifest`` is accepted for callers that hold it; the report reads manifest.json, which the
    run writes before calling this.
    """
    rd.report.write_text(render(rd.root), encoding="utf-8")
    return rd.report
