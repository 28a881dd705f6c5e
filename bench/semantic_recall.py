"""dedup.semantic against exact all-pairs cosine on 5k real rows, per eps (issue 14).

    PYTHONPATH=. nice -n 10 python bench/semantic_recall.py [--n 5000] [--model lexical-rp]

Rows: 2,500 LawBench queries (Chinese) + 2,500 ShareGPT first user turns (mostly English), seeded
sample (bench/semantic_data.py). One embedding of the 5k rows (the stage's default embedder, cached
under bench/.data/semcache), float16-rounded as the stage sees it. Then, per eps (remove when
cosine > 1 - eps):

* truth: the exact greedy walk over ALL rows in input order (no clusters): a row is a duplicate when
  its cosine to a row kept before it is > 1 - eps (``greedy_keep`` on the full set; the full 5k x 5k
  cosine matrix gives the pair counts);
* ``dedup.semantic`` as shipped: k-means (one cluster per 1,000 rows), exact walk in each cluster;
* ``semhash`` 0.5 on the same vectors (usearch ANN, its default backend), threshold 1 - eps;
* ``dedup.minhash`` (defaults, Jaccard 0.7): the cheap lexical baseline, independent of eps.

precision = |removed & truth| / |removed|, recall = |removed & truth| / |truth|, by source.
A removal outside ``truth`` is still a real pair over the threshold (every removal names one):
greedy order effects, not a false match; the "pair over threshold" column checks that.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from bench.semantic_data import rows  # noqa: E402
from curate.embed.cluster import kmeans  # noqa: E402
from curate.embed.greedy import greedy_keep  # noqa: E402
from curate.embed.service import embed_rows  # noqa: E402
from curate.pipeline.stage import StageContext  # noqa: E402
from curate.stages.dedup.semantic import semdedup  # noqa: E402

EPS = (0.01, 0.02, 0.05, 0.1, 0.2)


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def semhash_removed(x: np.ndarray, threshold: float) -> np.ndarray:
    """Rows semhash removes given the same vectors (records = row numbers, so no text grouping)."""
    from semhash import SemHash

    recs = [str(i) for i in range(len(x))]

    class Same:
        def encode(self, xs, **kw):
            return x[[int(s) for s in xs]]

    res = SemHash.from_records(records=recs, model=Same()).self_deduplicate(threshold=threshold)
    return np.asarray(sorted(int(d.record) for d in res.filtered), dtype=np.int64)


def pr(removed: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> str:
    r, t = set(removed[mask[removed]].tolist()), set(truth[mask[truth]].tolist())
    both = len(r & t)
    p = both / len(r) if r else 1.0
    rc = both / len(t) if t else 1.0
    return f"{len(r)} | {p:.3f} | {rc:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--model", default="lexical-rp")
    ap.add_argument("--no-semhash", action="store_true")
    a = ap.parse_args()
    half = a.n // 2
    df = rows(a.n, {"lawbench": half, "sharegpt": a.n - half}, seed=0)
    src = df["source"].to_numpy()
    masks = {"all": np.ones(a.n, bool), "LawBench (zh)": src == "lawbench", "ShareGPT": src == "sharegpt"}
    ctx = StageContext(seed=42, cache_dir=HERE / ".data" / "semcache")
    t = time.perf_counter()
    emb = embed_rows(df, field="user", model=a.model, ctx=ctx)
    x = emb.vectors
    print(f"{a.n} rows ({half} LawBench queries, {a.n - half} ShareGPT prompts), model={a.model}, "
          f"embed {time.perf_counter() - t:.1f}s ({emb.stats['from_cache']} from cache); "
          f"load {os.getloadavg()[0]:.1f}")
    sims = x @ x.T
    np.fill_diagonal(sims, -1)
    k = math.ceil(a.n / 1000)
    labels, _ = kmeans(x, k, seed=42)
    rank = np.arange(a.n)
    from curate.stages.dedup.minhash import MinHashDedup

    mh = MinHashDedup({}).apply(df)
    mh_gone = np.flatnonzero(np.isin(df["origin"].to_numpy(), mh.removed["origin"].to_numpy()))
    print(f"k-means k={k}; dedup.minhash (Jaccard 0.7) removes {len(mh_gone)} "
          f"({int(masks['LawBench (zh)'][mh_gone].sum())} LawBench)")
    print("| eps | cos > | pairs over | pairs in one cluster | rows with a twin | truth removed (zh) "
          "| tool | removed | precision | recall | zh removed | zh P | zh R | en removed | en P | en R "
          "| CPU s |")
    print("|" + "---|" * 17)
    for eps in EPS:
        thr = 1 - eps
        iu, ju = np.nonzero(np.triu(sims > thr, 1))
        same = float((labels[iu] == labels[ju]).mean()) if len(iu) else 1.0
        twin = int((sims > thr).any(axis=1).sum())
        c0 = cpu()
        exact = greedy_keep(x, rank, threshold=thr)
        c_exact = cpu() - c0
        truth = np.flatnonzero(~exact.kept)
        head = (f"| {eps} | {thr:.2f} | {len(iu)} | {same:.3f} | {twin} | {len(truth)} "
                f"({int(masks['LawBench (zh)'][truth].sum())}) ")
        c0 = cpu()
        kept, dup, _ = semdedup(x, labels, rank, threshold=thr)
        c_ours = cpu() - c0
        ours = np.flatnonzero(~kept)
        assert (np.einsum("ij,ij->i", x[ours], x[dup[ours]]) > thr - 1e-6).all()
        tools = [("exact walk, 1 cluster", truth, c_exact), ("dedup.semantic", ours, c_ours)]
        if not a.no_semhash:
            c0 = cpu()
            sh = semhash_removed(x, thr)
            tools.append(("semhash (usearch)", sh, cpu() - c0))
        tools.append(("dedup.minhash 0.7", mh_gone, float("nan")))
        for name, rem, secs in tools:
            cols = " | ".join(pr(rem, truth, masks[m]) for m in masks)
            print(f"{head}| {name} | {cols} | {secs:.2f} |")
            head = "| | | | | | "
        sys.stdout.flush()


if __name__ == "__main__":
    main()
