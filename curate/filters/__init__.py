"""Rule filters, cleaners and dedup."""

STAGES: dict[str, str] = {
    "filter.length": "curate.filters.length",
    "dedup.exact": "curate.filters.dedup_exact",
}
