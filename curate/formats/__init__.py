"""Readers, writers and converters between the canonical schema and Alpaca, ShareGPT, OpenAI
messages, prompt/response/history and plain text."""

from curate.formats.detect import detect_format
from curate.formats.read import ReadResult, from_records, load, load_with_rejects, read_source
from curate.formats.write import to_records, write

__all__ = [
    "ReadResult",
    "detect_format",
    "from_records",
    "load",
    "load_with_rejects",
    "read_source",
    "to_records",
    "write",
]
