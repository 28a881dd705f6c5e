"""Cluster sizes of dedup.semantic's k-means on 200k real rows, and why one cluster got 72k (issue 14).

    PYTHONPATH=. python bench/semantic_memory.py --prepare --n 200000     # the rows (once)
    nice -n 15 env OMP_NUM_THREADS=1 PYTHONPATH=. python bench/semantic_clusters.py --n 200000 \
        [--model lexical-rp] [--legacy]

Embeds the rows as dedup.semantic does (its field and embedder, cache in bench/.data/semcache, so a
re-run only clusters), runs ``curate.embed.cluster.kmeans`` with the stage's k (one cluster per
1,000 rows) and prints the size distribution, the largest cluster's centroid norm (a diffuse
cluster has a short mean vector) and its members' mean cosine to it, and what it holds.
``--legacy`` runs the pre-fix Euclidean MiniBatchKMeans for the before/after table.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from curate.embed.cluster import kmeans  # noqa: E402
from curate.embed.service import embed_rows  # noqa: E402
from curate.pipeline.stage import StageContext  # noqa: E402


def legacy_kmeans(x: np.ndarray, k: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The pre-fix path above 50k rows: Euclidean MiniBatchKMeans on unit vectors, 3 inits."""
    from sklearn.cluster import MiniBatchKMeans

    km = MiniBatchKMeans(k, random_state=seed, n_init=3, batch_size=4096)
    labels = km.fit_predict(x).astype(np.int64)
    return labels, km.cluster_centers_.astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--model", default="lexical-rp")
    ap.add_argument("--legacy", action="store_true")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    df = pl.read_parquet(HERE / ".data" / f"semmem{a.n}.parquet")
    ctx = StageContext(seed=a.seed, cache_dir=HERE / ".data" / "semcache")
    t = time.perf_counter()
    emb = embed_rows(df, field="user", model=a.model, ctx=ctx)
    x = emb.vectors
    print(f"{df.height} rows embedded in {time.perf_counter() - t:.0f}s ({emb.stats['embedded_now']} now);"
          f" load {os.getloadavg()[0]:.1f}", flush=True)
    k = math.ceil(df.height / 1000)
    t = time.perf_counter()
    labels, cents = (legacy_kmeans if a.legacy else kmeans)(x, k, seed=a.seed)
    secs = time.perf_counter() - t
    sizes = np.bincount(labels, minlength=k)
    q = np.percentile(sizes, [0, 50, 90, 99, 100]).astype(int)
    big = int(sizes.argmax())
    members = np.flatnonzero(labels == big)
    c = cents[big]
    cos = x[members] @ (c / max(np.linalg.norm(c), 1e-12))
    tag = "legacy" if a.legacy else "now"
    print(f"{tag}: k={k} in {secs:.0f}s; sizes min/median/p90/p99/max = {q.tolist()};"
          f" clusters > 5,000 rows: {int((sizes > 5000).sum())}, holding {int(sizes[sizes > 5000].sum())}")
    raw = np.linalg.norm(x[members].mean(axis=0))
    print(f"largest cluster {big}: {sizes[big]} rows, centroid norm {np.linalg.norm(c):.3f} (raw mean"
          f" {raw:.3f}), members' median cosine to it {np.median(cos):.3f}")
    sub = df[members]
    print("its sources:", sub.group_by("source").len().sort("len", descending=True).head(5).rows())
    texts = [emb.texts[i] for i in members[:: max(1, len(members) // 8)][:8]]
    print("its texts (every n-th):", [t[:40] for t in texts])


if __name__ == "__main__":
    main()
