"""Selection by meaning: diversity, per-cluster quotas, tag coverage (and model scores)."""

STAGES: dict[str, str] = {
    "select.diverse": "curate.stages.select.diverse",
    "select.per_cluster": "curate.stages.select.per_cluster",
    "select.tag_coverage": "curate.stages.select.tag_coverage",
}
