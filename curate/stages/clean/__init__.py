"""``clean.*``: cleaners that rewrite text in place (and remove a row only when nothing is left)."""

STAGES: dict[str, str] = {
    "clean.filler_words": "curate.stages.clean.text",
    "clean.normalize": "curate.stages.clean.text",
    "clean.pii": "curate.stages.clean.pii",
    "clean.user_features": "curate.stages.clean.features",
}
