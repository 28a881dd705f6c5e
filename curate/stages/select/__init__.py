"""``select.*``: keep the best rows by a score: any score column (``select.top``) or IFD (``select.ifd``)."""

STAGES: dict[str, str] = {
    "select.top": "curate.stages.select.top",
    "select.ifd": "curate.stages.select.ifd",
    "select.diverse": "curate.stages.select.diverse",
    "select.per_cluster": "curate.stages.select.per_cluster",
    "select.tag_coverage": "curate.stages.select.tag_coverage",
}
