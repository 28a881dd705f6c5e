"""``select.*``: keep the best rows: by any score column (``select.top``), IFD (``select.ifd``), diversity,
per-cluster quotas or tag coverage (embeddings, see ``curate.embed``)."""

STAGES: dict[str, str] = {
    "select.top": "curate.stages.select.top",
    "select.ifd": "curate.stages.select.ifd",
    "select.diverse": "curate.stages.select.diverse",
    "select.per_cluster": "curate.stages.select.per_cluster",
    "select.tag_coverage": "curate.stages.select.tag_coverage",
}
