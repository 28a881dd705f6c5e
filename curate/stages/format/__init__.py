"""Stages that reshape rows for the output: ``convert`` and ``truncate.history``."""

STAGES: dict[str, str] = {
    "convert": "curate.stages.format.convert",
    "truncate.history": "curate.stages.format.truncate",
}
