"""``dedup.minhash``: MinHash-LSH near dedup with exact-Jaccard verification and one survivor per cluster."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator, model_validator

from curate.fields import Field as TextField
from curate.fields import field_text
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, Removal, StageConfig, StageResult, mark_removed
from curate.stages.dedup.common import (
    Scope,
    check_column,
    check_keep,
    codes_of,
    rank_by,
    source_codes,
    split_duplicates,
    survivor_key,
    survivor_rank,
)
from curate.stages.dedup.spill import ShingleStore
from curate.text.dupclusters import by_components, greedy
from curate.text.lsh import band_keys, bucket_pairs, jaccard_pairs, optimal_bands, signatures, unique_pairs
from curate.text.minhash import NearPairs, byte_chunks, near_pairs
from curate.text.shingles import Unit, shingle_hashes

SHARD_CHUNK_BYTES = 32 << 20  # text shingled at once in ``decide`` (~180 MB of scratch for CJK)


@register("dedup.minhash")
class MinHashDedup(GlobalStage):
    """Remove near-duplicates: rows whose shingle sets have Jaccard >= ``threshold`` with a kept row.

    Pipeline: normalize (NFKC, lowercase) -> word or character n-gram shingles (``auto`` picks
    characters for rows that are mostly CJK) -> ``num_perm`` MinHash values per row -> LSH with
    ``bands`` x ``rows`` chosen from the threshold -> candidate pairs -> exact Jaccard on the
    shingle sets (``verify``) -> connected components -> one survivor per component by ``keep``.

    The trade-off: with ``b`` bands of ``r`` rows a pair of Jaccard ``s`` is a candidate with
    probability ``1-(1-s^r)^b``. More bands catch more true duplicates (fewer false negatives) and
    propose more dissimilar pairs (false positives). With ``verify`` on, a false positive costs one
    exact check and is then dropped, so the defaults weigh misses 9:1 (``fn_weight``); at the
    default 0.7 and 128 permutations that gives 20 bands x 6 rows: a pair at Jaccard 0.7 is missed
    8% of the time, at 0.75 2%, at 0.8 0.2%, while a pair at 0.6 is proposed (and then rejected)
    62% of the time. (At 0.8: 14 x 9, 13% missed at 0.8, 2.5% at 0.85.) With ``verify`` off,
    candidates join clusters on the LSH alone.

    Why 0.7 (measured, ``bench/minhash_curve.py``: 4,500 real documents, LawBench answers, law
    articles, chitchat, plus copies with k % scattered character edits): on Chinese (character
    4-grams) a 5 % edit leaves a median Jaccard of 0.70, so 0.8 caught 1 % of those copies and
    0.7 45 % (2 % edits: 97 % vs 100 %); against all-pairs exact Jaccard no pair below the
    threshold is ever removed (verification), and the extra pairs of different documents found
    between 0.7 and 0.8 are, on reading, mostly real near-duplicates (amended law versions, one
    answer with a prefix), while below 0.7 most are different answers quoting the same law.
    Word 5-grams are harsher: a 1 % character edit of English chat leaves Jaccard ~0.65.

    Groups are connected components (``clustering: components``, the default): transitive, so
    A~B, B~C puts A, B, C together and a removed row's ``value`` (its exact Jaccard to the
    survivor, whose id is ``dup_of``) can be below the threshold; ``clustering: greedy`` removes a
    row only when it pairs with a kept row (see curate.text.dupclusters).
    Cost: linear in shingles x num_perm for signatures (compiled, on ``ctx.threads`` threads), one
    sort per band, and one sort of each candidate's shingles for verification.
    """

    class Config(StageConfig):
        field: TextField = Field(
            "text",
            description="Which text to compare (see curate.fields). The default, `text`, is every turn "
            "without the system prompt: a shared few-shot system prompt dominates the shingles of short "
            "rows, so with `all` LawBench rows with different questions and answers matched at 0.7.",
        )
        threshold: float = Field(
            0.7, gt=0, le=1, description="Jaccard similarity at which rows are duplicates."
        )
        num_perm: int = Field(128, ge=8, le=1024, description="MinHash permutations (signature length).")
        bands: int | None = Field(
            None, ge=1, description="LSH bands; None derives bands x rows from threshold."
        )
        rows_per_band: int | None = Field(None, ge=1, description="Signature values per band (with bands).")
        fp_weight: float = Field(
            0.1, ge=0, description="Weight of the false-positive area when deriving bands."
        )
        fn_weight: float = Field(
            0.9, ge=0, description="Weight of the false-negative area when deriving bands."
        )
        shingle: Unit = Field("auto", description="word | char | auto (char when a row is mostly CJK).")
        shingle_words: int = Field(5, ge=1, le=32, description="Words per shingle.")
        shingle_chars: int = Field(4, ge=1, le=32, description="Characters per shingle (CJK rows).")
        min_cjk_share: float = Field(0.3, ge=0, le=1, description="CJK share of characters for auto -> char.")
        lowercase: bool = Field(True, description="Compare case-insensitively.")
        verify: bool = Field(True, description="Check candidate pairs by exact Jaccard before merging them.")
        keep: str = Field(
            "first", description="Survivor of a cluster: first (input order), longest, or a score_* column."
        )
        scope: Scope = Field("global", description="global: across sources; per_source: within one source.")
        clustering: Literal["components", "greedy"] = Field(
            "components",
            description="components: union of all pairs, best row survives; greedy: a row leaves only "
            "when paired with a kept row (every removal within the threshold of its survivor).",
        )
        seed: int | None = Field(None, description="Hash seed; None uses the run seed.")

        @field_validator("keep")
        @classmethod
        def _check_keep(cls, v: str) -> str:
            return check_keep(v)

        @model_validator(mode="after")
        def _check_bands(self) -> MinHashDedup.Config:
            if (self.bands or 1) * (self.rows_per_band or 1) > self.num_perm:
                raise ValueError(f"bands x rows_per_band exceeds num_perm = {self.num_perm}")
            return self

    def band_shape(self) -> tuple[int, int]:
        """The ``(bands, rows)`` in force: the configured pair, or the S-curve optimum."""
        c = self.cfg
        if c.bands and c.rows_per_band:
            return c.bands, c.rows_per_band
        if c.bands:
            return c.bands, max(1, c.num_perm // c.bands)
        if c.rows_per_band:
            return max(1, c.num_perm // c.rows_per_band), c.rows_per_band
        return optimal_bands(c.threshold, c.num_perm, fp_weight=c.fp_weight, fn_weight=c.fn_weight)

    def shingle_kw(self) -> dict:
        """How rows become shingles (``text.shingles.shingle_hashes`` keywords, seed included)."""
        c = self.cfg
        return dict(
            unit=c.shingle,
            word_ngram=c.shingle_words,
            char_ngram=c.shingle_chars,
            cjk_share_min=c.min_cjk_share,
            lowercase=c.lowercase,
            seed=self.seed,
        )

    def texts(self, df: pl.DataFrame) -> pl.Series:
        """The compared field of every row."""
        return df.select(field_text(self.cfg.field))[:, 0]

    def groups(self, df: pl.DataFrame) -> np.ndarray:
        """Small integer per row that pairs must share (all zeros unless ``scope: per_source``)."""
        return source_codes(df, self.cfg.scope)

    def rank(self, df: pl.DataFrame) -> np.ndarray:
        """Survivor rank of every row (0 = best; see ``dedup.common.survivor_rank``)."""
        return survivor_rank(df, self.texts(df), keep=self.cfg.keep, stage=self.name)

    def near_pairs(self, df: pl.DataFrame) -> NearPairs:
        """Every near-duplicate pair in ``df`` (verified when ``verify``), without removing any row."""
        c = self.cfg
        bands, rows = self.band_shape()
        return near_pairs(
            self.texts(df),
            threshold=c.threshold,
            bands=bands,
            rows=rows,
            num_perm=c.num_perm,
            verify=c.verify,
            groups=self.groups(df),
            workers=self.ctx.threads,
            **self.shingle_kw(),
        )

    def split(
        self, df: pl.DataFrame, dup: np.ndarray, surv: np.ndarray, sim: np.ndarray, stats: dict
    ) -> StageResult:
        """Remove rows ``dup`` (sorted), each a near duplicate of row ``surv`` at Jaccard ``sim``."""
        stats.update(clusters=int(np.unique(surv).size), removed=int(dup.size))
        return split_duplicates(
            df,
            dup,
            surv,
            stage=self.name,
            reason="near_duplicate",
            value=pl.lit(pl.Series(sim, dtype=pl.Float64)),
            threshold=self.cfg.threshold,
            stats=stats,
        )

    def _shingles(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        h, off, _ = shingle_hashes(texts, workers=self.ctx.threads, **self.shingle_kw())
        return h, off

    def decide(self, table: Any) -> Removal:
        """The rows ``apply`` removes, from a sharded table, without the whole text in memory.

        Per shard: signatures (32 MB of text shingled at a time), then one full-signature key and
        ``bands`` band keys a row; the band keys spill to a temp dir (``bands`` x 8 bytes a row) and
        are read back one band at a time. Only candidate rows are fetched again to verify. Memory at
        3.7 M rows and 14 bands: ~0.1 GB of keys in RAM, one shard's text and shingles, the pairs.
        Same pairs, clusters, values and survivors as ``apply`` (the keys are per row)."""
        c = self.cfg
        n = table.height
        if n < 2:
            return Removal(
                rows=np.zeros(0, np.int64),
                reason="near_duplicate",
                value=np.zeros(0),
                dup_of=[],
                threshold=c.threshold,
            )
        bands, rows = self.band_shape()
        groups = (
            codes_of(table.select("source")["source"])
            if c.scope == "per_source" and "source" in table.schema
            else np.zeros(n, dtype=np.int64)
        )
        full = np.empty(n, dtype=np.uint64)
        nonempty = np.empty(n, dtype=bool)
        with tempfile.TemporaryDirectory(prefix="curate-minhash-") as tmp:
            files, o = [], 0
            for s, df in enumerate(table):
                texts = df.select(field_text(c.field))[:, 0]
                h = texts.len()
                sig = np.empty((h, c.num_perm), dtype=np.uint32)
                for a, b in byte_chunks(texts, SHARD_CHUNK_BYTES):
                    hs, off = self._shingles(texts.slice(a, b - a))
                    sig[a:b] = signatures(
                        hs, off, num_perm=c.num_perm, seed=self.seed, workers=self.ctx.threads
                    )
                    nonempty[o + a : o + b] = np.diff(off) > 0
                    del hs, off
                g = groups[o : o + h]
                full[o : o + h] = band_keys(sig, 1, c.num_perm, g, self.seed)[0]
                files.append(Path(tmp) / f"keys-{s:05d}.npy")
                np.save(files[-1], band_keys(sig, bands, rows, g, self.seed))
                o += h
                del sig, texts
            docs = np.flatnonzero(nonempty)
            _, first, inv = np.unique(full[docs], return_index=True, return_inverse=True)
            rep = docs[first]
            star_i, star_j = rep[inv], docs
            m = star_i != star_j
            left, right = [star_i[m]], [star_j[m]]
            for b in range(bands):
                kb = np.concatenate([np.load(f, mmap_mode="r")[b] for f in files])[rep]
                a_, z_ = bucket_pairs(kb)
                left.append(rep[a_])
                right.append(rep[z_])
        i, j = np.concatenate(left), np.concatenate(right)
        i, j = unique_pairs(np.minimum(i, j), np.maximum(i, j), n)
        stats: dict[str, Any] = {"identical_signatures": int(m.sum()), "candidate_pairs": int(i.size)}
        need = np.unique(np.concatenate([i, j]))
        cols = [x for x in ("kind", "text", "messages", "system") if x in table.schema]
        with tempfile.TemporaryDirectory(prefix="curate-minhash-") as tmp:
            store = ShingleStore(
                table,
                need,
                lambda df: df.select(field_text(c.field))[:, 0],
                self._shingles,
                columns=cols,
                folder=Path(tmp),
                chunk_bytes=SHARD_CHUNK_BYTES,
                workers=self.ctx.threads,
            )
            sim = np.full(i.size, np.nan)
            if c.verify and i.size:
                sim = store.jaccard(i, j)
                ok = sim >= c.threshold
                i, j, sim = i[ok], j[ok], sim[ok]
            stats.update(bands=bands, rows_per_band=rows, verified_pairs=int(i.size) if c.verify else None)
            p = NearPairs(i, j, sim, np.zeros(0, np.uint64), np.zeros(1, np.int64), need, stats)
            rank = self._rank(table, n)
            dup, surv, sims = self._survivors(n, p, rank, store.jaccard)
        uniq = np.unique(surv)
        ids = table.gather(uniq, ["id"])["id"].to_list()
        dup_of = [ids[k] for k in np.searchsorted(uniq, surv)]
        return Removal(
            rows=dup, reason="near_duplicate", value=sims, dup_of=dup_of, threshold=c.threshold, stats=p.stats
        )

    def _rank(self, table: Any, n: int) -> np.ndarray:
        c = self.cfg
        if c.keep == "first":
            return np.arange(n, dtype=np.int64)
        if c.keep.startswith("score_"):
            check_column(table.schema, c.keep, self.name)
        return rank_by(table.select(survivor_key(c.keep, c.field))[:, 0])

    def _survivors(
        self, n: int, p: NearPairs, rank: np.ndarray, jaccard: Callable[[np.ndarray, np.ndarray], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Removed rows (sorted), their survivors, and each one's exact Jaccard to its survivor."""
        c = self.cfg
        if c.clustering == "greedy":
            weight = p.sim if c.verify else -rank[np.minimum(p.i, p.j)].astype(np.float64)
            surv = greedy(n, p.i, p.j, weight, rank)
        else:
            surv = by_components(n, p.i, p.j, rank)
        dup = np.flatnonzero(surv != np.arange(n))
        sim = jaccard(surv[dup], dup)
        p.stats.update(clusters=int(np.unique(surv[dup]).size), removed=int(dup.size))
        return dup, surv[dup], sim

    def apply(self, df: pl.DataFrame) -> StageResult:
        if df.height < 2:
            return StageResult(
                kept=df, removed=mark_removed(df.clear(), stage=self.name, reason="near_duplicate")
            )
        p = self.near_pairs(df)
        rank = self.rank(df)

        def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return jaccard_pairs(p.hashes, p.offsets, p.local(a), p.local(b), workers=self.ctx.threads)

        dup, surv, sim = self._survivors(df.height, p, rank, jaccard)
        return self.split(df, dup, surv, sim, p.stats)
