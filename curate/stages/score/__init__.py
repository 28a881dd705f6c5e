"""``score.*``: model-based scores as ``score_*`` columns (perplexity, uncertainty, judge); nothing removed
except rows a judge could not score."""

STAGES: dict[str, str] = {
    "score.perplexity": "curate.stages.score.perplexity",
    "score.uncertainty": "curate.stages.score.uncertainty",
    "score.judge": "curate.stages.score.judge",
    "score.join": "curate.stages.score.join",
}
