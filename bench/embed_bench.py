"""Embedders on LawBench: NMI, kNN purity, texts/s, cache speed-up; optionally semhash agreement.

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 python bench/embed_bench.py [--models lexical,minilm-l6] \
        [--per-task 40] [--semhash]

Texts: the ``query`` of the first ``per-task`` rows of each of LawBench's 17 QA files (680 at 40).
NMI: k-means (k=17, one init) on unit vectors against the task file, mean and range over 5 seeds;
"stage k-means": the same with the stages' ``curate.embed.cluster.kmeans`` (mean over 5 seeds).
kNN purity: share of each text's 10 nearest neighbours (cosine) from the same task file.
``anchor`` is the issue's baseline computed in the same run: plain rjieba words, TF-IDF, SVD 256.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from curate.embed.service import embed_texts
from curate.models import ModelHub
from tests.helpers import lawbench_rows


def nmi(x: np.ndarray, labels: np.ndarray, seeds: int = 5) -> tuple[float, float, float]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    s = [
        normalized_mutual_info_score(labels, KMeans(17, n_init=1, random_state=i).fit_predict(x))
        for i in range(seeds)
    ]
    return float(np.mean(s)), float(np.min(s)), float(np.max(s))


def nmi_stage(x: np.ndarray, labels: np.ndarray, seeds: int = 5) -> float:
    """NMI of the stages' own k-means (``curate.embed.cluster.kmeans``: 3 inits, spherical passes)."""
    from sklearn.metrics import normalized_mutual_info_score

    from curate.embed.cluster import kmeans

    runs = [normalized_mutual_info_score(labels, kmeans(x, 17, seed=i)[0]) for i in range(seeds)]
    return float(np.mean(runs))


def purity(x: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    nn = np.argpartition(-sims, k, axis=1)[:, :k]
    return float((labels[nn] == labels[:, None]).mean())


def anchor(texts: list[str]) -> np.ndarray:
    import rjieba
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    toks = [[w for w in rjieba.cut(t) if w.strip()] for t in texts]
    x = TruncatedSVD(256, random_state=0).fit_transform(
        TfidfVectorizer(analyzer=lambda v: v).fit_transform(toks)
    )
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="lexical,lexical-rp,lexical-chars,minilm-l6")
    ap.add_argument("--per-task", type=int, default=40)
    ap.add_argument("--semhash", action="store_true")
    ap.add_argument("--semhash-only", action="store_true")
    ap.add_argument("--cache", default=None, help="embedding cache dir to reuse (e.g. the calibration's)")
    a = ap.parse_args()
    df = lawbench_rows(a.per_task)
    texts = [m[0]["content"] for m in df["messages"].to_list()]
    labels = df["task"].to_numpy()
    if a.semhash_only:
        semhash_agreement(texts, Path(a.cache) if a.cache else None)
        return
    print(f"{len(texts)} LawBench queries, 17 tasks; shared machine (2 cores, ~8 agents)")
    print("| embedder | NMI mean (min-max, 5 seeds) | NMI, stage k-means | kNN@10 purity | texts/s |"
          " cached re-run |")
    print("|---|---|---|---|---|---|")
    t = time.perf_counter()
    x = anchor(texts)
    secs = time.perf_counter() - t
    m, lo, hi = nmi(x, labels)
    print(
        f"| anchor: rjieba words TF-IDF + SVD 256 | {m:.3f} ({lo:.2f}-{hi:.2f}) | {nmi_stage(x, labels):.3f}"
        f" | {purity(x, labels):.3f} "
        f"| {len(texts) / secs:.0f} | - |"
    )
    hub = ModelHub()
    for name in a.models.split(","):
        with tempfile.TemporaryDirectory() as cache:
            t = time.perf_counter()
            e = embed_texts(texts, hub.text_embedder(name), cache_dir=Path(cache))
            secs = time.perf_counter() - t
            t = time.perf_counter()
            again = embed_texts(texts, hub.text_embedder(name), cache_dir=Path(cache))
            secs2 = time.perf_counter() - t
            assert again.stats["embedded_now"] == 0
        m, lo, hi = nmi(e.vectors, labels)
        print(
            f"| {name} | {m:.3f} ({lo:.2f}-{hi:.2f}) | {nmi_stage(e.vectors, labels):.3f} |"
            f" {purity(e.vectors, labels):.3f} | "
            f"{len(texts) / secs:.1f} | {secs2:.2f} s ({secs / secs2:.0f}x) |"
        )
        if name == "minilm-l6":
            model = hub.embedder("minilm-l6")
            t = time.perf_counter()
            model.encode(texts, batch_size=64, normalize_embeddings=True)
            bare = time.perf_counter() - t
            print(
                f"|   bare SentenceTransformer.encode, same texts, batch 64 | | | |"
                f" {len(texts) / bare:.1f} | |"
            )
    if a.semhash or a.semhash_only:
        semhash_agreement(texts, Path(a.cache) if a.cache else None)


def semhash_agreement(texts: list[str], cache: Path | None, threshold: float = 0.9) -> None:
    """dedup.semantic's kernel vs semhash on the same minilm-l6 vectors (read from the embedding cache
    when ``cache`` holds them), one threshold for both, on the distinct texts."""
    from semhash import SemHash

    from curate.embed.cluster import kmeans
    from curate.stages.dedup.semantic import semdedup

    texts = list(dict.fromkeys(texts))  # distinct texts: both tools judge the same records
    emb = embed_texts(texts, ModelHub().text_embedder("minilm-l6"), cache_dir=cache)
    row = {t: i for i, t in enumerate(texts)}

    class Cached:
        def encode(self, xs, **kw):
            return emb.vectors[[row[x] for x in xs]]

    t = time.perf_counter()
    sh = SemHash.from_records(records=texts, model=Cached()).self_deduplicate(threshold=threshold)
    sh_secs = time.perf_counter() - t
    theirs = {d.record for d in sh.filtered}
    t = time.perf_counter()
    labels, _ = kmeans(emb.vectors, max(1, len(texts) // 1000), seed=42)
    kept, _, _ = semdedup(emb.vectors, labels, np.arange(len(texts)), threshold=threshold)
    our_secs = time.perf_counter() - t
    ours = {texts[i] for i in np.flatnonzero(~kept)}
    both = len(ours & theirs)
    print(
        f"{len(texts)} distinct texts, cosine > {threshold}: "
        f"semhash removed {len(theirs)} in {sh_secs:.2f}s, "
        f"dedup.semantic {len(ours)} in {our_secs:.2f}s; both {both}; "
        f"agreement (Jaccard) {both / max(len(ours | theirs), 1):.3f}"
    )


if __name__ == "__main__":
    main()
