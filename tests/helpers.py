"""Shared fixtures: real data from installed packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml


def chatterbot_dialogues(langs: tuple[str, ...] = ("chinese", "english"), files_per_lang: int | None = None):
    """Yield (lang, file stem, [turns]) from chatterbot-corpus (BSD); skips the test when absent."""
    spec = importlib.util.find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("chatterbot-corpus not installed (make setup installs it)")
    root = Path(next(iter(spec.submodule_search_locations))) / "data"
    for lang in langs:
        for f in sorted((root / lang).glob("*.yml"))[:files_per_lang]:
            for conv in yaml.safe_load(f.read_text(encoding="utf-8")).get("conversations", []):
                turns = [str(t) for t in conv]
                if len(turns) >= 2:
                    yield lang, f.stem, turns
