"""Spherical k-means on unit vectors and c-TF-IDF cluster labels.

sklearn's ``KMeans`` (Lloyd, ``n_init`` restarts) up to ``minibatch_above`` rows, ``MiniBatchKMeans``
beyond (cost linear in n per pass), place the centroids; then a few spherical Lloyd passes
(``spherical_lloyd``) assign each row to the centroid of highest *cosine* and renormalize.

Why the spherical passes: Euclidean k-means keeps centroids as raw means, and on unit vectors
|x - c|^2 = 1 - 2 x.c + |c|^2, so a row close to no centroid goes to the one of smallest norm: the
most diffuse cluster, which each such row makes more diffuse still. On 200k mixed rows (lexical-rp,
k = 200) MiniBatchKMeans put 72,549 rows in one cluster of short unrelated ShareGPT turns (centroid
norm ~0.1; bench/semantic_clusters.py), and dedup.semantic's walk is quadratic in a cluster's size.
By cosine to the *normalized* centroid, a big diffuse cluster attracts nobody, and rows without
neighbours spread out. Rows with no direction at all (zero vectors: no known token) go round-robin
in the fit; ``nearest``, which labels rows after a fit on a sample (``fit_rows``), puts them in 0.

c-TF-IDF labels come in three steps (``word_counts`` -> ``ctfidf_top`` -> ``top_words``) so that the
Ray executor counts per block and scores per word partition with the same code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from curate.embed.threads import threads_for
from curate.embed.tokens import label_words


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    seed: int,
    n_init: int = 3,
    minibatch_above: int = 50_000,
    refine: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, unit centroids)`` for ``k`` clusters (k is clipped to the number of rows)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n = x.shape[0]
    k = max(1, min(k, n))
    if k == 1:
        c = x.mean(axis=0, keepdims=True)
        return np.zeros(n, dtype=np.int64), c / max(np.linalg.norm(c), 1e-12)
    if n > minibatch_above:
        km = MiniBatchKMeans(k, random_state=seed, n_init=n_init, batch_size=4096)
    else:
        km = KMeans(k, random_state=seed, n_init=n_init)
    with threads_for(2.0 * n * x.shape[1] * k * 30 * n_init):  # ~30 Lloyd iterations
        km.fit(x)
    with threads_for(2.0 * n * x.shape[1] * k * (refine + 1)):
        return spherical_lloyd(x, km.cluster_centers_.astype(np.float32), iters=refine)


def spherical_lloyd(
    x: np.ndarray, c: np.ndarray, *, iters: int, chunk: int = 8192
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``iters`` passes of: label = argmax cosine to the unit centroids; centroid = unit mean.

    Stops early when fewer than 0.1 % of labels change. A centroid that loses all its rows keeps its
    place. Zero rows are labelled ``i mod k``. Cost per pass: one n x d x k product in ``chunk``-row
    blocks (200k x 1,024 x 200: ~0.4 s on one core) plus a sparse one-hot sum.
    """
    import scipy.sparse as sp

    n, k = x.shape[0], c.shape[0]
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    empty = ~np.any(x, axis=1)
    spread = np.flatnonzero(empty)

    def assign(c: np.ndarray) -> np.ndarray:
        lab = np.concatenate([np.argmax(x[i : i + chunk] @ c.T, axis=1) for i in range(0, n, chunk)])
        lab[spread] = np.arange(len(spread)) % k
        return lab.astype(np.int64)

    labels = assign(c)
    for _ in range(iters):
        live = ~empty
        onehot = sp.csr_matrix(
            (np.ones(int(live.sum()), np.float32), (labels[live], np.flatnonzero(live))), shape=(k, n)
        )
        sums = np.asarray(onehot @ x, dtype=np.float32)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        c = np.where(norms > 1e-12, sums / np.maximum(norms, 1e-12), c)
        new = assign(c)
        changed = int((new != labels).sum())
        labels = new
        if changed <= n // 1000:
            break
    return labels, c.astype(np.float32)


def word_counts(texts: list[str], labels: np.ndarray) -> pl.DataFrame:
    """``(cluster, word, n)``: how often each label word occurs in each cluster's texts (sorted).
    Per row Python (rjieba segmentation, ~40k short Chinese texts/s on one core)."""
    words = [label_words(t) for t in texts]
    lab = np.repeat(np.asarray(labels, dtype=np.int64), [len(w) for w in words])
    flat = [w for ws in words for w in ws]
    df = pl.DataFrame({"cluster": lab, "word": flat}, schema={"cluster": pl.Int64, "word": pl.Utf8})
    return add_counts(df.with_columns(n=pl.lit(1, dtype=pl.Int64)))


def add_counts(counts: pl.DataFrame) -> pl.DataFrame:
    """Partial ``word_counts`` (of blocks) summed: one row per (cluster, word), sorted."""
    return counts.group_by("cluster", "word").agg(pl.col("n").sum()).sort("cluster", "word")


def cluster_sizes(counts: pl.DataFrame, clusters: np.ndarray) -> tuple[dict[int, int], float]:
    """Words per cluster (every cluster in ``clusters``, 0 if it has none) and the mean over them."""
    got = dict(counts.group_by("cluster").agg(pl.col("n").sum()).iter_rows())
    sizes = {int(c): int(got.get(int(c), 0)) for c in clusters}
    return sizes, sum(sizes.values()) / max(len(sizes), 1)


def ctfidf_top(counts: pl.DataFrame, sizes: dict[int, int], avg: float, *, top: int) -> pl.DataFrame:
    """The ``top`` most distinctive ``(cluster, word, score)`` per cluster by c-TF-IDF (BERTopic's
    class TF-IDF): a cluster's documents are one document; score = tf(t, c) x log(1 + A / f(t))
    with tf the word's share of its cluster's words (``sizes``), A the mean word count per cluster
    (``avg``) and f(t) the word's count over all clusters. Words come from ``word_counts``
    (rjieba-segmented, no single CJK characters, digits or punctuation), so labels read like
    ``合同 / 违约 / 赔偿``, not ``的 / 了``. ``counts`` must hold every cluster's count of each word
    it holds (all words, or one partition of the words: the Ray executor scores per partition);
    ``top_words`` turns the rows into labels."""
    if counts.height == 0:
        return pl.DataFrame(schema={"cluster": pl.Int64, "word": pl.Utf8, "score": pl.Float64})
    n_c = pl.DataFrame({"cluster": list(sizes), "nc": [max(v, 1) for v in sizes.values()]},
                       schema={"cluster": pl.Int64, "nc": pl.Int64})  # fmt: skip
    scored = counts.join(n_c, on="cluster").with_columns(
        score=(pl.col("n") / pl.col("nc")) * (avg / pl.col("n").sum().over("word")).log1p()
    )
    return best(scored.select("cluster", "word", "score"), top=top)


def best(scored: pl.DataFrame, *, top: int) -> pl.DataFrame:
    """The ``top`` rows per cluster by score, ties by word (partial tops merge by this too)."""
    return (
        scored.sort(["cluster", "score", "word"], descending=[False, True, False])
        .group_by("cluster", maintain_order=True)
        .head(top)
    )


def top_words(scored: pl.DataFrame, clusters: np.ndarray, *, top: int) -> dict[int, list[str]]:
    """``best`` rows as a label per cluster (an empty list for a cluster without label words)."""
    out: dict[int, list[str]] = {int(c): [] for c in clusters}
    for c, w in best(scored, top=top).select("cluster", "word").iter_rows():
        out[int(c)].append(str(w))
    return out


# k-means fits on at most this many rows (``fit_rows``), then assigns every row: sklearn's KMeans
# on 50k x 1024 float32 is ~200 MB and tens of seconds; more rows barely move the centres.
FIT_ROWS = 50_000


def fit_rows(ids: pl.Series, limit: int | None = None) -> np.ndarray:
    """Positions (sorted) of the rows k-means fits on: all rows up to ``FIT_ROWS``, else those with
    the smallest xxh3 of their id (ties by position). A uniform sample that depends on the rows,
    not on their order or on how an executor cuts them into blocks."""
    from curate.embed.service import text_keys

    limit = FIT_ROWS if limit is None else limit
    if ids.len() <= limit:
        return np.arange(ids.len())
    h = text_keys(ids.cast(pl.Utf8).fill_null("").to_list())
    return np.sort(np.lexsort((np.arange(len(h)), h))[:limit])


def fit_centers(x: np.ndarray, k: int, *, seed: int, n_init: int = 3) -> np.ndarray:
    """Unit centroids (float32, k x d; k clipped to the rows) of ``x``, usually a sample, by the one
    ``kmeans`` above (spherical passes included): ``nearest`` then assigns every row, in batches,
    on any executor (dedup.semantic), by the same cosine rule the fit used."""
    return kmeans(x, k, seed=seed, n_init=n_init)[1].astype(np.float32)


def nearest(x: np.ndarray, centers: np.ndarray, *, batch_rows: int = 8192) -> np.ndarray:
    """Index of each row's highest-cosine centroid (float64, ties to the lower index; a zero row
    gets 0). Per row, so Ray blocks and local batches agree but for float64 rounding of a tie.
    Cosine, not Euclidean: a short, diffuse centre would otherwise pull weakly related rows in
    (the 72k-row cluster at 200k rows, module docstring)."""
    c = unit_rows(centers.astype(np.float64))
    out = np.empty(x.shape[0], dtype=np.int64)
    for lo in range(0, x.shape[0], batch_rows):
        out[lo : lo + batch_rows] = np.argmax(x[lo : lo + batch_rows].astype(np.float64) @ c.T, axis=1)
    return out


def unit_rows(c: np.ndarray) -> np.ndarray:
    """Rows of ``c`` scaled to unit length (centres -> cosine centroids)."""
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)


def center_cosines(
    x: Any, centers: np.ndarray, labels: np.ndarray, *, batch_rows: int = 65_536
) -> np.ndarray:
    """Each row's cosine to its own centre (``labels``), ``batch_rows`` rows at a time: ``x`` may
    be an array or an ``embed.vectors.VectorFile`` (dedup.semantic's ``keep: centroid``)."""
    c = unit_rows(centers)
    out = np.empty(x.shape[0], dtype=np.float32)
    for lo in range(0, x.shape[0], batch_rows):
        v = x[lo : lo + batch_rows]
        out[lo : lo + batch_rows] = np.einsum("ij,ij->i", v, c[labels[lo : lo + batch_rows]])
    return out
