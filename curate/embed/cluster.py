"""k-means on unit vectors and c-TF-IDF cluster labels.

k-means runs on L2-normalized vectors, so squared distance is 2 - 2 cos and clusters are
cosine clusters. sklearn's ``KMeans`` (Lloyd, ``n_init`` restarts) up to ``minibatch_above``
rows; ``MiniBatchKMeans`` beyond, whose cost is linear in n per pass.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from curate.embed.threads import threads_for
from curate.embed.tokens import label_words


def kmeans(
    x: np.ndarray, k: int, *, seed: int, n_init: int = 3, minibatch_above: int = 50_000
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
        labels = km.fit_predict(x).astype(np.int64)
    c = km.cluster_centers_.astype(np.float32)
    return labels, c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)


def ctfidf_labels(texts: list[str], labels: np.ndarray, *, top: int = 3) -> dict[int, list[str]]:
    """Most distinctive words per cluster by c-TF-IDF (BERTopic's class TF-IDF).

    A cluster's documents are one document; weight = tf(t, c) x log(1 + A / f(t)) with A the mean
    word count per cluster and f(t) the word's frequency over all clusters. Words are segmented
    (rjieba) and single CJK characters, digits and punctuation are left out, so labels read like
    ``合同 / 违约 / 赔偿``, not ``的 / 了``.
    """
    per: dict[int, Counter[str]] = {}
    for t, c in zip(texts, labels.tolist(), strict=True):
        per.setdefault(int(c), Counter()).update(label_words(t))
    total: Counter[str] = Counter()
    for cnt in per.values():
        total.update(cnt)
    avg = sum(total.values()) / max(len(per), 1)
    out: dict[int, list[str]] = {}
    for c, cnt in per.items():
        n = sum(cnt.values()) or 1
        scored = sorted(cnt, key=lambda w: (-(cnt[w] / n) * np.log1p(avg / total[w]), w))
        out[c] = scored[:top]
    return out


def fit_centers(x: np.ndarray, k: int, *, seed: int, n_init: int = 3) -> np.ndarray:
    """Raw k-means centres (float32, k x d; k clipped to the rows) of ``x``, usually a sample:
    ``nearest`` then assigns every row, in batches, on any executor (dedup.semantic)."""
    from sklearn.cluster import KMeans

    n = x.shape[0]
    k = max(1, min(k, n))
    if k == 1:
        return x.mean(axis=0, keepdims=True).astype(np.float32)
    km = KMeans(k, random_state=seed, n_init=n_init)
    with threads_for(2.0 * n * x.shape[1] * k * 30 * n_init):
        km.fit(x)
    return km.cluster_centers_.astype(np.float32)


def nearest(x: np.ndarray, centers: np.ndarray, *, batch_rows: int = 8192) -> np.ndarray:
    """Index of each row's nearest centre (squared Euclidean in float64, ties to the lower index).
    Computed per row, so Ray blocks and local batches agree but for distances within float64
    rounding of a tie."""
    c = centers.astype(np.float64)
    half = 0.5 * np.einsum("ij,ij->i", c, c)
    out = np.empty(x.shape[0], dtype=np.int64)
    for lo in range(0, x.shape[0], batch_rows):
        out[lo : lo + batch_rows] = np.argmax(x[lo : lo + batch_rows].astype(np.float64) @ c.T - half, axis=1)
    return out


def unit_rows(c: np.ndarray) -> np.ndarray:
    """Rows of ``c`` scaled to unit length (centres -> cosine centroids)."""
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
