"""Embedding stages on one machine (issue 16): ``dedup.semantic``, ``tag.clusters`` and
``select.diverse`` embed shard by shard into a file, decide from the vectors and narrow columns,
then carry their decision out shard by shard, as ``executors.planned`` does for the mixing stages.

A global stage with ``narrow``/``choose`` (``pipeline.stage.embeds``) runs in three steps inside
its ``NN-<stage>.tmp`` dir:

1. *Embed* (``embed.service.embed_parts``: the whole-table path's steps, a shard at a time, reading
   only the columns the embedded field needs): every text's key; a corpus-fitted embedder (the
   lexical ones) fitted on the texts its own rule picks (the smallest text hashes: the sample the
   Ray executor fetches too); the cache lookup; the missing texts embedded shard by shard, each
   distinct text once, into ``vectors.npy`` (``embed.vectors.VectorFile``, float32 n x dim) and the
   embedding cache; repeats copied; rows scaled to unit length.
2. *Choose.* ``stage.choose`` on the narrow columns of every row (``narrow``: the id, a survivor
   key, a score, a group) and the vector file: the same code as ``apply`` on the whole table
   (k-means on ``embed.cluster.fit_rows``' sample, ``nearest`` per chunk, SemDeDup's walk per
   cluster, the diversity walk per group, c-TF-IDF words counted per shard). The decision (a
   ``Removal`` or ``Columns``, a few numbers a row) goes to ``plan.pkl`` and the vectors go.
3. *Carry out* per shard (``planned.carry``): kept (thin over the input: rows only dropped, or two
   columns added), removed, the part marker; a killed run of the same recipe resumes at the first
   unfinished shard without embedding again. Killed while embedding, it starts the stage again,
   and the embedding cache (``cache_dir``) holds every batch embedded before the kill.

The stage directory ends as ``stage.apply`` on the whole table leaves it: same kept rows, removed
ledger, labels and stats but their timings (``tests/pipeline/test_embedded.py``). For a neural
embedder the encoder's batches are cut per shard, as per Ray block, which can move a vector by less
than its float16 rounding (``embed_parts``).
Memory: one shard, the narrow columns and keys (~30 bytes a row plus the ids), a lexical
embedder's fit texts (its ``max_fit_rows``, 100,000 by default, as on the whole-table path), the
fit sample's vectors (<= ``FIT_ROWS`` x dim float32), the vectors of one cluster (semantic) while it
is walked, and the decision. ``select.diverse``'s ``repr`` walk reads its blocks from the file
(``VectorFile.subset``); ``kcenter`` and ``facility`` hold one group's vectors (all rows when ``by``
is unset).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from curate.embed.service import embed_parts
from curate.embed.vectors import VectorFile
from curate.fields import field_text
from curate.pipeline.executors.planned import carry
from curate.pipeline.executors.segment import Step, Totals
from curate.pipeline.shards import Shards
from curate.pipeline.stage import StageResult
from curate.pipeline.thin import lineage

VECTORS = "vectors.npy"


class _Empty:
    """The decision for a table without rows (pickled: it holds nothing, not even the stage)."""


def _empty(stage: Any, df: pl.DataFrame, first: bool) -> StageResult:
    """The stage's own ``apply`` on an empty shard (its stats once)."""
    res = stage.apply(df)
    if not first:
        res.stats, res.warnings = {}, []
    return res


def run_embedded(step: Step, src: Shards) -> Totals:
    """Embed, choose and carry out ``step.stage`` over ``src`` into ``step.tmp`` (see the module
    docstring); the stage's ledger. The caller closes the stage dir."""
    stage, tmp = step.stage, step.tmp
    offs = src.offsets()

    def decide() -> Any:
        if callable(check := getattr(stage, "check", None)):
            check()  # a bad config fails before any embedding
        if src.height == 0:
            return _Empty()
        narrow = src.select(*stage.narrow(src.schema))  # type: ignore[attr-defined]
        x, stats = embed_shards(stage, src, tmp / VECTORS)
        texts = _texts(stage, src)
        dec = stage.choose(narrow, x, stats, lambda: (texts(n) for n in range(len(src))))  # type: ignore[attr-defined]
        (tmp / VECTORS).unlink(missing_ok=True)
        return dec

    def part(dec: Any, df: pl.DataFrame, n: int) -> StageResult:
        if isinstance(dec, _Empty):
            return _empty(stage, df, n == 0)
        return dec.split(df, stage=stage.name, offset=offs[n], first=n == 0)  # type: ignore[no-any-return]

    return carry(
        step,
        src,
        decide,
        part,
        read=lambda n: (src.read(n), lineage(src, n)),
        scratch=lambda: [tmp / VECTORS],
    )


def embed_shards(stage: Any, src: Shards, path: Path) -> tuple[Any, dict[str, Any]]:
    """The unit vectors of every row of ``src`` in a ``VectorFile`` at ``path`` (``stage.cfg``'s
    field and embedder, its context's cache) and the embedding stats, as ``embed_for`` gives them."""
    path.unlink(missing_ok=True)  # a killed run's partial file
    return embed_parts(
        _texts(stage, src),
        list(src.rows),
        stage.make_embedder(),
        cache_dir=stage.ctx.cache_dir,
        alloc=lambda _: VectorFile(path, src.height),
    )


def _texts(stage: Any, src: Shards) -> Any:
    expr, names = field_text(stage.cfg.field), src.schema.names()
    return lambda n: src.select_one(n, expr, names=names).to_series().to_list()
