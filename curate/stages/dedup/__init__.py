"""``dedup.*``: exact, near (MinHash-LSH) and semantic (SemDeDup) dedup, one survivor per group by a
stated rule."""

STAGES: dict[str, str] = {
    "dedup.exact": "curate.stages.dedup.exact",
    "dedup.minhash": "curate.stages.dedup.minhash",
    "dedup.semantic": "curate.stages.dedup.semantic",
}
