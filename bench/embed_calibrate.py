"""Calibrate dedup.semantic's eps per embedder on all 8,500 LawBench queries.

For each eps: rows removed, and removals whose survivor (dup_of) is a query from an unrelated task
(3-1/3-3/3-4/3-5 count as one task, 2-9/2-10 as one): those are false positives by construction;
so are removals of a 1-1 query (each asks for a different article of a law) by a different text.

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 python bench/embed_calibrate.py --model lexical [--per-task 500]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from curate.embed.cluster import kmeans
from curate.embed.service import embed_rows
from curate.pipeline.stage import StageContext
from curate.stages.dedup.semantic import semdedup
from tests.helpers import lawbench_rows

EPS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lexical")
    ap.add_argument("--per-task", type=int, default=500)
    ap.add_argument("--cache", default=None)
    a = ap.parse_args()
    df = lawbench_rows(a.per_task)
    ctx = StageContext(seed=42, cache_dir=Path(a.cache) if a.cache else None)
    t = time.perf_counter()
    emb = embed_rows(df, field="user", model=a.model, ctx=ctx)
    secs = time.perf_counter() - t
    x = emb.vectors
    fam = df["tag_family"].to_numpy()
    exact = df.height - len(set(emb.texts))
    labels, _ = kmeans(x, math.ceil(df.height / 1000), seed=42)
    rank = np.arange(df.height)
    print(
        f"model={a.model} rows={df.height} exact-duplicate queries={exact} "
        f"embed {secs:.1f}s ({df.height / secs:.0f} texts/s)"
    )
    task = df["task"].to_numpy()
    text = np.asarray(emb.texts, dtype=object)
    print("| eps | cos > | removed | removed % | cross-task | cross-task % of removed | 1-1 templated |")
    print("|---|---|---|---|---|---|---|")
    for e in EPS:
        kept, dup, _ = semdedup(x, labels, rank, threshold=1 - e)
        gone = np.flatnonzero(~kept)
        cross = int((fam[gone] != fam[dup[gone]]).sum())
        # 1-1 asks for one article of one law per query ("X法第N条的内容是什么"): a removal there whose
        # text differs from its survivor's drops a distinct question, a false positive by construction
        templ = int(((task[gone] == "1-1法条背诵") & (text[gone] != text[dup[gone]])).sum())
        print(
            f"| {e} | {1 - e:.3f} | {len(gone)} | {100 * len(gone) / df.height:.1f} | {cross} | "
            f"{100 * cross / max(len(gone), 1):.1f} | {templ} |"
        )


if __name__ == "__main__":
    main()
