"""The within-cluster walk of dedup.semantic: brute-force blocks vs faiss vs usearch (issue 14).

    PYTHONPATH=. nice -n 10 python bench/semantic_walk.py [--sizes 1000,4000,16000] [--eps 0.05]

Vectors: a seeded sample of max(sizes) of the 50k rows of bench/semantic_semhash.py, embedded with
the stage's default (lexical-rp, 1,024 dims, float16 cache under bench/.data/semcache); a "cluster"
of S rows is a seeded random subset of them (the walk's cost depends on S and d, barely on content).
Every method runs on one thread (threadpoolctl for BLAS, faiss.omp_set_num_threads(1), usearch
threads=1); CPU seconds.

* blocks: ``curate.embed.greedy.greedy_keep`` (1,024-row blocks against the kept rows, exact);
* faiss flat: ``IndexFlatIP.range_search`` (exact, BLAS), then the same greedy over neighbour lists;
* faiss HNSW: ``IndexHNSWFlat`` (M 32, efConstruction 40, efSearch 128), top-100 then threshold
  (approximate; its range_search aborts on an inner-product HNSW in faiss 1.15);
* usearch: HNSW (connectivity 16, expansion_add 128, expansion_search 64, semhash's settings via
  vicinity), top-100 then threshold (semhash's way; approximate).
Removed sets are compared with the blocks' (exact) one.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from curate.embed.greedy import greedy_keep  # noqa: E402
from curate.embed.service import embed_rows  # noqa: E402
from curate.pipeline.stage import StageContext  # noqa: E402


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def resolve(n: int, nbrs: list[tuple[np.ndarray, np.ndarray]], thr: float) -> np.ndarray:
    """Greedy in row order over neighbour lists: drop i when a kept j < i has cosine > thr."""
    kept = np.ones(n, dtype=bool)
    for i, (idx, sim) in enumerate(nbrs):
        earlier = idx[(idx < i) & (sim > thr)]
        if len(earlier) and kept[earlier].any():
            kept[i] = False
    return kept


def faiss_range(index, x: np.ndarray, thr: float) -> list[tuple[np.ndarray, np.ndarray]]:
    lims, d, i = index.range_search(x, thr)
    return [(i[lims[r] : lims[r + 1]], d[lims[r] : lims[r + 1]]) for r in range(len(x))]


def methods(x: np.ndarray, thr: float) -> dict[str, tuple[float, np.ndarray]]:
    import faiss
    from usearch.index import Index

    out = {}
    c = cpu()
    out["blocks (curate)"] = (cpu() - c, greedy_keep(x, np.arange(len(x)), threshold=thr).kept)
    out["blocks (curate)"] = (cpu() - c, out["blocks (curate)"][1])
    c = cpu()
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    out["faiss flat range"] = (cpu() - c, resolve(len(x), faiss_range(flat, x, thr), thr))
    out["faiss flat range"] = (cpu() - c, out["faiss flat range"][1])
    c = cpu()
    hnsw = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 40
    hnsw.add(x)
    hnsw.hnsw.efSearch = 128
    d, i = hnsw.search(x, 100)  # range_search on an inner-product HNSW aborts in faiss 1.15
    out["faiss HNSW top-100"] = (cpu() - c, resolve(len(x), list(zip(i, d, strict=True)), thr))
    c = cpu()
    idx = Index(ndim=x.shape[1], metric="ip", dtype="f32", connectivity=16, expansion_add=128,
                expansion_search=64)
    idx.add(np.arange(len(x)), x, threads=1)
    m = idx.search(x, 100, threads=1)
    nbrs = [(m.keys[r].astype(np.int64), 1 - m.distances[r]) for r in range(len(x))]
    out["usearch HNSW top-100"] = (cpu() - c, resolve(len(x), nbrs, thr))
    return out


def main() -> None:
    import faiss
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,4000,16000")
    ap.add_argument("--eps", type=float, default=0.05)
    a = ap.parse_args()
    faiss.omp_set_num_threads(1)
    sizes = [int(v) for v in a.sizes.split(",")]
    df = pl.read_parquet(HERE / ".data" / "sem50000.parquet").sample(max(sizes), seed=0)
    ctx = StageContext(seed=42, cache_dir=HERE / ".data" / "semcache")
    emb = embed_rows(df, field="user", model="lexical-rp", ctx=ctx)
    x = np.ascontiguousarray(emb.vectors, dtype=np.float32)
    print(f"{len(x)} x {x.shape[1]} vectors ({emb.stats['from_cache']} from cache), eps {a.eps}; one thread; "
          f"load {os.getloadavg()[0]:.1f}")
    print("| rows in cluster | method | CPU s | removed | same as exact |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    with threadpool_limits(1):
        for s in sizes:
            sub = np.ascontiguousarray(x[np.sort(rng.choice(len(x), s, replace=False))])
            res = methods(sub, 1 - a.eps)
            ref = ~res["blocks (curate)"][1]
            for name, (secs, kept) in res.items():
                gone = ~kept
                agree = (gone & ref).sum() / max((gone | ref).sum(), 1)
                print(f"| {s} | {name} | {secs:.2f} | {int(gone.sum())} | {agree:.3f} |", flush=True)


if __name__ == "__main__":
    main()
