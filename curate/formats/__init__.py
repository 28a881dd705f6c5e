"""Readers, writers and converters between the canonical schema and Alpaca, ShareGPT, OpenAI
messages, prompt/response/history and plain text."""

STAGES: dict[str, str] = {
    "convert": "curate.formats.convert_stage",
    "truncate.history": "curate.formats.truncate",
}
