"""Ratios, caps, sampling, splits and SFT-into-pretraining mixing."""

STAGES: dict[str, str] = {
    "sample.random": "curate.mixing.sample",
}
