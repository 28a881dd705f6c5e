"""``mix.*``, ``cap.*``, ``sample.*``, ``split``: ratios, caps, sampling, splits, SFT-into-pretraining."""

STAGES: dict[str, str] = {
    "sample.random": "curate.stages.mix.sample",
    "mix.ratio": "curate.stages.mix.ratio",
    "mix.temperature": "curate.stages.mix.temperature",
    "mix.into_pretraining": "curate.stages.mix.pretrain",
    "cap.per_task": "curate.stages.mix.cap",
    "cap.total": "curate.stages.mix.cap",
    "split": "curate.stages.mix.split",
}
