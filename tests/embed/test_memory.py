"""Embedding memory stays one n x d matrix, and lexical-rp's projection stays small and accurate."""

from __future__ import annotations

import tracemalloc

import numpy as np
import polars as pl

from curate.embed.lexical import LexicalEmbedder
from curate.embed.service import embed_texts
from curate.embed.tokens import segment_all
from tests.helpers import lawbench_rows


def _queries(per_task: int) -> list[str]:
    return [m[0]["content"] for m in lawbench_rows(per_task)["messages"].to_list()]


def test_lexical_rp_embedding_peaks_near_one_output_matrix() -> None:
    """3,400 LawBench queries (200 per task): the output is 3,400 x 1,024 float32 (13.9 MB).

    Before: sklearn's dense Gaussian projection held 1,024 x vocabulary float64 (~190 MB for these
    ~23k words; 2.2 GB at 200k mixed rows), and ``embed_texts`` kept float16 parts, their
    concatenation, a norm temporary and a normalized copy beside the matrix (~3.5x it). Now the
    projection is sparse and the matrix is filled and normalized in place."""
    texts = _queries(200)
    embed_texts(texts[:50], LexicalEmbedder(reduce="random"), cache_dir=None)  # imports are not counted
    emb = LexicalEmbedder(reduce="random", seed=42)
    out_mb = len(texts) * 1024 * 4 / 2**20
    tracemalloc.start()
    try:
        e = embed_texts(texts, emb, cache_dir=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert e.vectors.shape == (len(texts), 1024) and e.vectors.dtype == np.float32
    peak_mb = peak / 2**20
    print(f"lexical-rp on {len(texts)} queries: traced peak {peak_mb:.0f} MB, output {out_mb:.0f} MB")
    assert peak_mb < 2.5 * out_mb + 20


def test_repeated_texts_share_one_vector_and_are_embedded_once(tmp_path) -> None:
    texts = _queries(5)
    rows = texts + texts[:30] + texts[::-1]
    e = embed_texts(rows, LexicalEmbedder(reduce="random", seed=1), cache_dir=tmp_path)
    assert e.stats["embedded_now"] == len(set(texts))
    pos = {t: i for i, t in enumerate(rows)}  # last occurrence of each text
    assert all(np.array_equal(e.vectors[i], e.vectors[pos[t]]) for i, t in enumerate(rows))
    assert np.allclose(np.linalg.norm(e.vectors, axis=1), 1, atol=1e-5)


def test_sparse_projection_keeps_tfidf_cosines() -> None:
    """lexical-rp's cosines track the exact TF-IDF cosines on real Chinese queries (JL: error std
    ~ 1/sqrt(1024) ~ 0.03; measured 0.031 for this projection and for sklearn's dense Gaussian)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = _queries(20)
    tf = TfidfVectorizer(analyzer=lambda t: t, sublinear_tf=True, dtype=np.float32)
    x = tf.fit_transform(segment_all(texts))
    exact = (x @ x.T).toarray()
    e = embed_texts(texts, LexicalEmbedder(reduce="random", seed=3), cache_dir=None)
    err = (e.vectors @ e.vectors.T - exact)[np.triu_indices(len(texts), 1)]
    assert abs(err.mean()) < 0.01 and err.std() < 0.045
    assert pl.Series(np.abs(err)).quantile(0.999) < 0.2


def test_streaming_tfidf_equals_sklearn() -> None:
    """curate.embed.tfidf gives sklearn's TfidfVectorizer(sublinear_tf=True) numbers, so the vectors
    (and every eps calibrated on them) did not move when it replaced sklearn's fit."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from curate.embed.tfidf import StreamingTfidf
    from curate.embed.tokens import words

    texts = [*_queries(10), "", "hello hello world"]
    ref = TfidfVectorizer(analyzer=words, sublinear_tf=True, dtype=np.float32)
    want = ref.fit_transform(texts)
    ours = StreamingTfidf(words)
    got = ours.fit_transform(texts, batch=50)
    assert ours.vocabulary_ == ref.vocabulary_
    assert abs(got - want).max() < 1e-5
