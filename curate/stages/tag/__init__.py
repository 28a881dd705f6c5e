"""Stages that add labels without removing rows: embedding clusters and intent tags."""

STAGES: dict[str, str] = {
    "tag.clusters": "curate.stages.tag.clusters",
    "tag.intent": "curate.stages.tag.intent",
}
