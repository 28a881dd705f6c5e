"""Report sections about the run: training, evaluation, sources and licenses, stage details, rejects.

Training and eval keys are read defensively: a run without training (``--no-train``) or without
``curate eval`` simply has no such section.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.report import figures
from curate.report.explore import Run
from curate.report.html import chart, e, table

SAMPLES = 5


def _scalars(d: dict[str, Any]) -> list[list[Any]]:
    return [[k, v] for k, v in d.items() if isinstance(v, (int, float, str, bool)) or v is None]


def training(run: Run) -> str:
    met, tr = run.metrics(), run.manifest.get("train")
    if not met.height and not tr:
        return ""
    final = tr.get("final_eval_loss") if isinstance(tr, dict) else None
    final = final if isinstance(final, (int, float)) else None
    out = "<div class='grid'>" + chart(figures.loss(met, final)) + chart(figures.train_rate(met)) + "</div>"
    samples = _jsonl(run.rd.train / "samples.jsonl")[:SAMPLES]
    if samples:
        rows = [[r.get("prompt"), r.get("reference"), r.get("generated")] for r in samples]
        out += "<h3>Generated after training</h3>" + table(["prompt", "reference", "generated"], rows)
    out += _plan(run)
    if isinstance(tr, dict):
        out += table(["metric", "value"], _scalars(tr))
    return out


def _plan(run: Run) -> str:
    """What the optimizer steps used (train/steps.parquet), and how to see one row's tokens and mask."""
    import polars as pl

    p = run.rd.train / "steps.parquet"
    if not p.exists():
        return ""
    per = pl.read_parquet(p).group_by("step").agg(
        pl.len().alias("examples"), pl.col("tokens").sum(), pl.col("targets").sum(), pl.col("epoch").max()
    )
    if not per.height:
        return ""
    rows = [
        ["optimizer steps", per.height],
        ["passes over the data", int(per["epoch"].max()) + 1],
        ["examples per step (mean)", round(float(per["examples"].mean()), 2)],
        ["tokens per step (mean)", round(float(per["tokens"].mean()), 1)],
        ["trained tokens (loss mask) per step (mean)", round(float(per["targets"].mean()), 1)],
    ]
    return (
        "<h3>What the steps used</h3>"
        + table(["", ""], rows)
        + "<p class='muted'>Which rows each step trained on is in train/steps.parquet and "
        "train/examples.parquet; <code>curate trace RUN_DIR ROW_ID</code> shows a row's token ids, "
        "its loss mask and the steps that used it.</p>"
    )


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file; unreadable lines are skipped (the report must always draw)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _samples(run: Run) -> str:
    rows = []
    for r in _jsonl(run.rd.root / "eval" / "open_ended.jsonl"):
        if r.get("model_answer"):
            msgs = r.get("messages") or []
            q = next((m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == "user"), "")
            rows.append([r.get("origin"), q, r.get("reference"), r["model_answer"]])
        if len(rows) >= SAMPLES:
            break
    if not rows:
        return ""
    return "<h3>Sample generations</h3>" + table(["origin", "question", "reference", "model answer"], rows)


def evaluation(run: Run) -> str:
    ev = run.manifest.get("eval")
    if not isinstance(ev, dict):
        return ""
    out = []
    mcq = {k: v for k, v in (ev.get("mcq") or {}).items() if isinstance(v, dict)}
    if mcq:
        names = list(mcq)
        fig = figures.bars(
            names,
            {k: [mcq[n].get(f"{k}_accuracy") for n in names] for k in ("base", "adapter")},
            "Multiple-choice accuracy: base vs adapter",
            ytitle="accuracy",
            colors=[figures.BASE, figures.KEEP],
        )
        fig.add_scatter(
            x=names,
            y=[mcq[n].get("chance") for n in names],
            mode="markers",
            name="chance",
            marker={"symbol": "line-ew-open", "size": 30, "color": figures.DROP},
        )
        fig.update_yaxes(tickformat=".0%")
        out.append(chart(fig))
        keys = ["items", "base_accuracy", "adapter_accuracy", "chance"]
        out.append(table(["set", *keys], [[n, *(mcq[n].get(k) for k in keys)] for n in names]))
    by_dom = ev.get("eval_loss_by_domain")
    if isinstance(by_dom, dict) and by_dom:
        keys = sorted({k for v in by_dom.values() if isinstance(v, dict) for k in v})
        out.append(
            "<h3>Eval loss by domain</h3>"
            + table(
                ["domain", *keys],
                [[d, *(v.get(k) for k in keys)] for d, v in by_dom.items() if isinstance(v, dict)],
            )
        )
    rest = _scalars({k: v for k, v in ev.items() if k not in ("mcq", "eval_loss_by_domain")})
    if rest:
        out.append(table(["", "value"], rest))
    out.append(_samples(run))
    return "".join(out)


def sources(run: Run) -> str:
    m = run.manifest
    out = table(
        ["source", "format", "read", "rejected", "domain", "license"],
        [
            [s["name"], s["format"], s["rows"], s["rejects"], s["domain"], s.get("license") or "unknown"]
            for s in m["sources"]
        ],
    )
    lic = m["output"].get("licenses") or []
    if lic:
        out += "<p>In the output:</p>" + table(list(lic[0]), [list(d.values()) for d in lic])
    return out


def _stat_tables(stats: dict[str, Any]) -> str:
    """Scalars as one key/value table; lists of records and nested dicts as their own tables."""
    flat, parts = [], []
    for k, v in stats.items():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            keys = list(dict.fromkeys(k2 for x in v for k2 in x))
            parts.append(f"<p><b>{e(k)}</b></p>" + table(keys, [[x.get(c) for c in keys] for x in v]))
        elif isinstance(v, dict) and v:
            parts.append(
                f"<p><b>{e(k)}</b></p>"
                + table(
                    ["", "value"],
                    [
                        [k2, v2 if not isinstance(v2, (dict, list)) else json.dumps(v2, ensure_ascii=False)]
                        for k2, v2 in v.items()
                    ],
                )
            )
        elif isinstance(v, list):
            flat.append([k, ", ".join(map(str, v)) or None])
        else:
            flat.append([k, v])
    return (table(["", "value"], flat) if flat else "") + "".join(parts)


def _rel(run: Run, path: str) -> str:
    p = Path(path)
    return p.relative_to(run.rd.root).as_posix() if p.is_relative_to(run.rd.root) else path


def details(run: Run) -> str:
    out = []
    for s in run.stages:
        files = sorted(p for p in s.dir.glob("*") if p.is_file()) if s.dir.exists() else []
        links = " · ".join(
            f'<a href="{e(p.relative_to(run.rd.root).as_posix())}">{e(p.name)}</a>' for p in files
        )
        st = s.record.get("stats") or {}
        reused = " · reused from a previous run" if s.record.get("reused") else ""
        out.append(
            f"<h3>{s.index:02d} {e(s.name)}</h3><small>{s.record['seconds']:.2f}s{reused} · "
            f"{links}</small>" + (_stat_tables(st) if st else "")
        )
    files = run.manifest["output"].get("files") or {}
    if files:
        rows = [[k, f'<a href="{e(_rel(run, v))}">{e(_rel(run, v))}</a>'] for k, v in files.items()]
        out.append(
            "<h3>Output files</h3><table>"
            + "".join(f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in rows)
            + "</table>"
        )
    return "".join(out)


def rejects(run: Run) -> str:
    r = run.rejects()
    if not r.height:
        return ""
    head = r.head(20).select("origin", "error")
    return f"<p>{r.height:,} records; the first {head.height}:</p>" + table(
        head.columns, [list(x) for x in head.iter_rows()]
    )


def ablation(run: Run) -> str:
    """``curate ablate`` results (``ablate/ablation.json``), when the run has them."""
    p = run.rd.root / "ablate" / "ablation.json"
    if not p.exists():
        return ""
    from curate.report.ablation import ablation_html

    return ablation_html(json.loads(p.read_text(encoding="utf-8")))
