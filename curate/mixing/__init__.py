"""Ratios, caps, sampling, splits and SFT-into-pretraining mixing."""

STAGES: dict[str, str] = {
    "sample.random": "curate.mixing.sample",
    "mix.ratio": "curate.mixing.ratio",
    "mix.temperature": "curate.mixing.temperature",
    "mix.into_pretraining": "curate.mixing.pretrain",
    "cap.per_task": "curate.mixing.cap",
    "cap.total": "curate.mixing.cap",
    "split": "curate.mixing.split",
}
