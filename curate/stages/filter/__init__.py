"""``filter.*``: rule filters. Each row gets ``score_*`` columns; a threshold removes it with a reason."""

STAGES: dict[str, str] = {
    "filter.length": "curate.stages.filter.length",
    "filter.words": "curate.stages.filter.size",
    "filter.lines": "curate.stages.filter.size",
    "filter.turns": "curate.stages.filter.size",
    "filter.ratios": "curate.stages.filter.ratios",
    "filter.repetition": "curate.stages.filter.repetition",
    "filter.stopwords": "curate.stages.filter.stopwords",
    "filter.flagged_words": "curate.stages.filter.stopwords",
    "filter.language": "curate.stages.filter.langid",
    "filter.gopher_quality": "curate.stages.filter.gopher",
    "filter.gopher_repetition": "curate.stages.filter.gopher",
    "filter.c4": "curate.stages.filter.web",
    "filter.fineweb": "curate.stages.filter.web",
    "filter.refusal": "curate.stages.filter.phrases",
    "filter.blocklist": "curate.stages.filter.phrases",
    "filter.empty_turns": "curate.stages.filter.chat",
    "filter.echo": "curate.stages.filter.chat",
    "filter.placeholder": "curate.stages.filter.chat",
    "filter.mid_sentence": "curate.stages.filter.chat",
    "filter.special_tokens": "curate.stages.filter.special_tokens",
}
