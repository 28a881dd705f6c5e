"""k-means on unit vectors: clusters are cosine clusters, and a diffuse cluster does not swallow the rest."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curate.embed.cluster import kmeans
from curate.embed.service import embed_texts
from curate.models import ModelHub
from tests.helpers import lawbench_rows


def _queries(df: pl.DataFrame) -> list[str]:
    return df.select(pl.col("messages").list.first().struct.field("content")).to_series().to_list()


def test_minibatch_labels_are_the_centroid_of_highest_cosine(law680: pl.DataFrame) -> None:
    """MiniBatchKMeans (forced here by ``minibatch_above``) assigned by Euclidean distance to raw,
    shorter-than-one means: rows went to the most diffuse centroid, not the most similar one."""
    x = embed_texts(_queries(law680), ModelHub().text_embedder("lexical-rp"), cache_dir=None).vectors
    labels, cents = kmeans(x, 17, seed=0, minibatch_above=100)
    assert np.allclose(np.linalg.norm(cents, axis=1), 1, atol=1e-4)
    best = np.argmax(x @ cents.T, axis=1)
    assert (best == labels).all(), f"{int((best != labels).sum())} rows not at their nearest centroid"


def test_zero_vectors_spread_over_clusters() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[:60] = 0  # texts with no known token embed to zero: no direction to cluster by
    labels, _ = kmeans(x, 6, seed=0)
    assert np.bincount(labels[:60], minlength=6).max() == 10


@pytest.mark.slow
def test_no_cluster_swallows_mixed_language_rows() -> None:
    """8,500 LawBench queries and chatterbot-corpus's 21k short lines in 28 languages, lexical-rp,
    MiniBatch k-means with k = 100: on the Euclidean path one cluster held 6,091 rows (20.7x the
    mean); the spherical passes leave 3,110 (10.6x). At 200k rows the gap was 72,549 vs 6,925."""
    import yaml

    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("chatterbot-corpus not installed")
    lines = []
    for f in sorted((Path(next(iter(spec.submodule_search_locations))) / "data").glob("*/*.yml")):
        try:
            doc = yaml.safe_load(f.read_text("utf-8")) or {}
        except yaml.YAMLError:
            continue
        for conv in doc.get("conversations") or []:
            lines += [str(t) for t in conv if t]
    texts = _queries(lawbench_rows(None)) + lines
    x = embed_texts(texts, ModelHub().text_embedder("lexical-rp"), cache_dir=None).vectors
    labels, _ = kmeans(x, 100, seed=42, minibatch_above=1000)
    sizes = np.bincount(labels, minlength=100)
    print(f"{len(texts)} rows, k=100: largest cluster {sizes.max()}, median {np.median(sizes)}")
    assert sizes.max() < 15 * len(texts) / 100
    assert np.median(sizes) > 0.4 * len(texts) / 100


def test_ctfidf_scored_per_word_partition_gives_the_whole_tables_labels(law680: pl.DataFrame) -> None:
    """The Ray executor counts label words per block and scores them per word partition; merging
    the partitions' tops must give the labels of one scoring over everything (LawBench, 17 tasks)."""
    from curate.embed.cluster import add_counts, cluster_sizes, ctfidf_top, top_words, word_counts

    texts = _queries(law680)
    labels = law680["task"].rank("dense").cast(pl.Int64).to_numpy() - 1
    clusters = np.unique(labels)
    whole = word_counts(texts, labels)
    sizes, avg = cluster_sizes(whole, clusters)
    want = top_words(ctfidf_top(whole, sizes, avg, top=3), clusters, top=3)
    blocks = [word_counts(texts[a : a + 97], labels[a : a + 97]) for a in range(0, len(texts), 97)]
    merged = add_counts(pl.concat(blocks))
    assert merged.equals(whole)
    part = merged["word"].hash() % 3
    tops = pl.concat([ctfidf_top(merged.filter(part == p), sizes, avg, top=3) for p in range(3)])
    assert top_words(tops, clusters, top=3) == want
    words = [x for w in want.values() for x in w]
    assert len(words) == 3 * len(clusters) and all(len(x) > 1 for x in words)  # words, not characters
