"""Report sections about the data: warnings, funnel, scores, near-duplicates, lengths, mix, tags.

Each function takes a :class:`Run` and returns HTML, or "" when the run has nothing to show.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from curate.fields import turn_count
from curate.report import figures
from curate.report.explore import Run, preview
from curate.report.html import chart, e, table

LARGE_SHARE = 0.3  # a stage that removes or cuts more than this share of its input is a warning
EXAMPLES_PER_REASON = 3
OK = "No warnings: no unmet targets, repeats, large cuts, license flags or damaged input."


def collect_warnings(run: Run) -> list[str]:
    """Manifest warnings plus what the numbers show: large cuts, unmet mix, licenses, damaged input."""
    m = run.manifest
    out = [str(w) for w in m.get("warnings") or []]
    if m.get("rejects"):
        out.append(f"damaged input: {m['rejects']:,} records could not be parsed (see Rejected input)")
    for s in m["stages"]:
        n = s.get("rows_in") or 0
        if n >= 20 and s["removed"] / n > LARGE_SHARE:
            why = ", ".join(f"{r} {c:,}" for r, c in s["reasons"].items())
            out.append(f"{s['name']} removed {s['removed'] / n:.0%} of its input ({why})")
        st = s.get("stats") or {}
        cut = st.get("rows_truncated")
        if n >= 20 and isinstance(cut, int) and cut / n > LARGE_SHARE:
            out.append(f"{s['name']} cut {cut / n:.0%} of its rows")
        if not any(str(w).startswith(s["name"]) for w in out):
            out += [f"{s['name']}: {w}" for w in st.get("warnings") or [] if isinstance(w, str)]
        for g in st["groups"] if isinstance(st.get("groups"), list) else []:
            if isinstance(g, dict) and g.get("met") is False:
                out.append(
                    f"{s['name']}: target for {g.get('group')} not met "
                    f"({g.get('units_out')} of {g.get('units_target')} {st.get('unit', '')})"
                )
            if isinstance(g, dict) and g.get("repeats"):
                out.append(
                    f"{s['name']}: {g['repeats']:,} repeated rows in {g.get('group')} "
                    f"(up to {g.get('max_copies_used')} copies of a row)"
                )
    for lic in m["output"].get("licenses") or []:
        if lic.get("category") not in ("permissive", None) or lic.get("commercial") is False:
            out.append(
                f"license: {lic['source']} is {lic.get('license')} ({lic.get('category')}, "
                f"commercial use {'allowed' if lic.get('commercial') else 'not allowed'}), "
                f"{lic.get('share', 0):.0%} of the output"
            )
    mcq = (m.get("eval") or {}).get("mcq") or {}
    for name, r in mcq.items():
        if isinstance(r, dict) and (r.get("adapter_accuracy") or 0) < (r.get("base_accuracy") or 0):
            out.append(
                f"eval: adapter accuracy on {name} fell below the base model's "
                f"({r['adapter_accuracy']:.1%} vs {r['base_accuracy']:.1%})"
            )
    return list(dict.fromkeys(out))


def warnings(run: Run) -> str:
    ws = collect_warnings(run)
    if not ws:
        return '<div class="ok">' + OK + "</div>"
    return "".join(f'<div class="warn">{e(w)}</div>' for w in ws)


def funnel(run: Run) -> str:
    st = run.manifest["stages"]
    rows = [
        [
            s["index"],
            s["name"],
            s["rows_in"],
            s["kept"],
            s["removed"],
            ", ".join(f"{k} {v:,}" for k, v in (s.get("side") or {}).items()) or None,
            s.get("added", 0),
            ", ".join(f"{r} {c:,}" for r, c in s["reasons"].items()) or None,
            round(s["seconds"], 2),
        ]
        for s in st
    ]
    return chart(figures.funnel(st)) + table(
        ["#", "stage", "in", "kept", "removed", "side output", "added", "reasons", "s"], rows
    )


def _examples(removed: pl.DataFrame) -> str:
    if not removed.height:
        return ""
    ex = (
        removed.group_by("reason", maintain_order=True)
        .head(EXAMPLES_PER_REASON)
        .select("reason", "origin", "value", "threshold", preview())
    )
    return "<p><b>Removed rows</b> (a few per reason)</p>" + table(
        ex.columns, [list(r) for r in ex.iter_rows()]
    )


def scores(run: Run) -> str:
    out = []
    for s in run.stages:
        has_removed = s.removed_path.exists() and not s.name.startswith("dedup.")  # dedup: see Duplicates
        if not s.score_columns and not has_removed:
            continue
        sc, rem = run.scores(s.index, ids=False), run.removed(s.index)
        charts, flat = [], []
        for col in s.score_columns:
            v = sc[col].cast(pl.Float64, strict=False).drop_nulls()
            # min < max settles most columns without n_unique's hash table (~2 ms per 100k rows)
            if v.len() < 2 or (not v.min() < v.max() and v.n_unique() <= 1):
                flat.append(f"{col} = {v[0]:g}" if v.len() else f"{col}: no values")
                continue
            charts.append(chart(figures.score_hist(sc, col, figures.thresholds(rem, col))))
        note = f"<p class='muted'>constant: {e(', '.join(flat))}</p>" if flat else ""
        if charts or rem.height:
            out.append(
                f"<h3>{s.index:02d} {e(s.name)}</h3><div class='grid'>{''.join(charts)}</div>"
                + note
                + _examples(rem)
            )
    return "".join(out)


def duplicates(run: Run, limit: int = 10) -> str:
    d = run.near_duplicates(limit)
    if not d.height:
        return ""
    total = run.n_near_duplicates()
    rows = []
    for r in d.head(limit).iter_rows(named=True):
        fate = "kept in output" if r["kept_in_output"] else "removed later"
        rows.append(
            f"<p><b>{e(r['stage'])}</b> · similarity {r['similarity'] or 0:.2f} · survivor {fate}</p>"
            f"<div class='pair'><div><small>removed {e(r['origin'])}</small>\n{e(r['removed_text'])}</div>"
            f"<div><small>kept {e(r['kept_origin'])}</small>\n{e(r['kept_text'] or '')}</div></div>"
        )
    return f"<p>{total:,} rows removed as duplicates; the first {min(limit, d.height)}:</p>" + "".join(
        rows
    )


def lengths(run: Run) -> str:
    """Lengths before and after, from narrow lazy selects: a large run's texts are never in memory
    at once (polars' streaming engine reads one column of a row group at a time)."""
    before, after = run.kept(0), run.scan_output()
    kinds = set(after.select(pl.col("kind").unique()).collect()["kind"].to_list())
    if not kinds:
        return ""
    fields = [f for f in ("user", "assistant") if "chat" in kinds]
    fields += ["text"] if "text" in kinds else []
    charts = [chart(figures.lengths(before, after, f)) for f in fields]
    counted = {"score_truncate_size", "score_tokens_rendered", "score_tokens_assistant"}
    wanted = sorted(counted & set(after.collect_schema().names()))
    scores = after.select(wanted).collect() if wanted else pl.DataFrame()
    if {"score_truncate_size", "score_tokens_rendered"} <= set(scores.columns):  # truncate.history counted
        series = {
            "before truncation": scores["score_truncate_size"],
            "output": scores["score_tokens_rendered"],
        }
        charts.append(
            chart(
                figures.hist(series, "rendered tokens", colors=[figures.BASE, figures.KEEP], xlabel="tokens")[
                    0
                ]
            )
        )
    elif "score_tokens_rendered" in scores.columns:
        charts.append(
            chart(
                figures.hist({"output": scores["score_tokens_rendered"]}, "rendered tokens", xlabel="tokens")[
                    0
                ]
            )
        )
    if "score_tokens_assistant" in scores.columns:
        charts.append(
            chart(
                figures.hist(
                    {"output": scores["score_tokens_assistant"]},
                    "assistant tokens (the trained ones)",
                    xlabel="tokens",
                )[0]
            )
        )
    t_in, t_out = (
        f.filter(pl.col("kind") == "chat").select(turn_count().alias("t")).collect(engine="streaming")["t"]
        for f in (before, after)
    )
    if t_out.len():
        vin, vout = t_in.value_counts(), t_out.value_counts()
        keys = sorted(set(vin["t"].to_list()) | set(vout["t"].to_list()))
        din, dout = dict(vin.iter_rows()), dict(vout.iter_rows())
        charts.append(
            chart(
                figures.bars(
                    [str(k) for k in keys],
                    {"input": [din.get(k, 0) for k in keys], "output": [dout.get(k, 0) for k in keys]},
                    "messages per conversation (user + assistant turns)",
                    ytitle="rows",
                    colors=[figures.BASE, figures.KEEP],
                )
            )
        )
    return "<div class='grid'>" + "".join(charts) + "</div>"


def mix(run: Run) -> str:
    fig = figures.mix(run.manifest["stages"])
    st = next(
        (
            s["stats"]
            for s in run.manifest["stages"]
            if s["name"].startswith("mix.") and (s.get("stats") or {}).get("groups")
        ),
        None,
    )
    if fig is not None and st:
        keys = [
            "group",
            "rows_in",
            "rows_out",
            "target_share",
            "share_rows",
            "tokens",
            "share_tokens",
            "assistant_tokens",
            "share_assistant_tokens",
            "repeats",
            "met",
        ]
        keys = [k for k in keys if any(k in g for g in st["groups"])]
        return chart(fig) + table(keys, [[g.get(k) for k in keys] for g in st["groups"]])
    c = run.scan_output().group_by("domain", "source").len().sort("len", descending=True).collect()
    if not c.height:
        return ""
    return chart(
        figures.bars(
            [f"{d} / {s}" for d, s, _ in c.iter_rows()],
            {"rows": c["len"].to_list()},
            "Output rows by domain / source",
            ytitle="rows",
        )
    )


def _label_counts(df: pl.DataFrame, col: str, top: int = 30) -> tuple[list[str], list[int], float]:
    s = df[col]
    coverage = 1 - s.null_count() / max(df.height, 1)
    if isinstance(s.dtype, pl.List):
        s = s.explode()
    vc = s.drop_nulls().cast(pl.String).value_counts(sort=True).head(top)
    return vc[col].to_list(), vc["count"].to_list(), coverage


def tags(run: Run) -> str:
    names = run.scan_output().collect_schema().names()
    cols = [c for c in names if c.startswith("tag_") or (c == "cluster" and "tag_cluster" not in names)]
    if not cols and "cluster" not in names:
        return ""  # no tags: read nothing
    out = run.output()
    parts: list[Any] = []
    for col in cols:
        labels, counts, cov = _label_counts(out, col)
        if labels:
            title = f"{col}: top {len(labels)} labels, {cov:.0%} of rows labelled"
            parts.append(chart(figures.bars(labels, {"rows": counts}, title, ytitle="rows")))
    if "cluster" in out.columns:
        from curate.report.projection import coordinates, scatter

        label = "tag_cluster" if "tag_cluster" in out.columns else "cluster"
        xy = coordinates(out, label=label, seed=run.manifest.get("seed", 0))
        if xy.height:
            parts.append(chart(scatter(xy, f"Texts in 2-D, coloured by {label} (char n-gram TF-IDF + SVD)")))
    return "<div class='grid'>" + "".join(parts) + "</div>" if parts else ""
