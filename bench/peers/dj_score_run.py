"""Data-Juicer's loss-based filters on the score benchmark's rows (runs in bench/.venvs/dj).

Reads the JSONL that ``bench/score_bench.py --write-rows`` writes (LawBench rows already cut as text,
so Data-Juicer scores the same tokens as curate and the reference), runs
``instruction_following_difficulty_filter`` and ``llm_perplexity_filter`` through Data-Juicer's own
dataset path (``op.run`` on a ``NestedDataset``; it picks ``num_proc`` itself, 2 here, whatever the
op is given, and scores in forked workers) with the given model and
``min_score=0, max_score=inf`` (nothing filtered: we time the scoring), torch pinned to ``--threads``.
Prints one JSON line per op as it finishes: CPU seconds (this process *and* its waited-for workers,
``os.times``), wall seconds, rows per CPU-second, and every row's score in input order.

    bench/.venvs/dj/bin/python bench/peers/dj_score_run.py ROWS.jsonl MODEL_DIR --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time


def cpu_seconds() -> float:
    """User + system time of this process and of every worker it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows")
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ops", default="ifd,ppl")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from data_juicer.core.data import NestedDataset
    from data_juicer.ops.filter.instruction_following_difficulty_filter import (
        InstructionFollowingDifficultyFilter,
    )
    from data_juicer.ops.filter.llm_perplexity_filter import LLMPerplexityFilter
    from data_juicer.utils.constant import Fields, StatsKeys

    with open(args.rows, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    samples = [{"query": r["query"], "response": r["response"], Fields.stats: {}} for r in rows]
    kw = {
        "query_template": "{query}",
        "response_template": "{response}",
        "min_score": 0.0,
        "max_score": math.inf,
    }
    ops = {
        "ifd": (InstructionFollowingDifficultyFilter, StatsKeys.ifd_score),
        "ppl": (LLMPerplexityFilter, StatsKeys.llm_perplexity),
    }
    out: dict = {"rows": len(rows), "threads": args.threads, "torch": torch.__version__}
    for name in args.ops.split(","):
        cls, key = ops[name]
        op = cls(hf_model=args.model, **kw)
        # warm: load the model once outside the timing (Data-Juicer loads lazily on the first sample)
        warm = NestedDataset.from_list(samples[:1])
        op.run(warm)
        ds = NestedDataset.from_list(samples)
        c0, t0 = cpu_seconds(), time.perf_counter()
        res = op.run(ds)
        cpu, wall = cpu_seconds() - c0, time.perf_counter() - t0
        scores = [float(s[Fields.stats][key]) for s in res]
        out[name] = {
            "cpu_seconds": round(cpu, 1),
            "seconds": round(wall, 1),
            "rows_per_cpu_s": round(len(rows) / cpu, 4),
            "torch_threads_during": torch.get_num_threads(),
            "scores": scores,
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        print(json.dumps({name: out[name]}), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
