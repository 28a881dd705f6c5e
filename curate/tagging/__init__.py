"""Task tags and embedding clusters."""

STAGES: dict[str, str] = {}
