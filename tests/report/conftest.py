"""One quickstart run (no training) shared by the report, API and trace tests: ~40 s on 2 cores."""

from __future__ import annotations

from pathlib import Path

import pytest

import curate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from curate.recipe import parse

    out = tmp_path_factory.mktemp("report") / "quickstart"
    path = ROOT / "recipes" / "quickstart.yaml"
    # At 1,024 tokens (the quickstart itself uses 1,536) some questions are cut at a sentence
    # boundary and some rows removed, so the truncation sections and traces have rows to show.
    text = path.read_text(encoding="utf-8").replace("max_tokens: 1536", "max_tokens: 1024")
    assert "max_tokens: 1024" in text
    curate.run(parse(text, file=str(path), path=path), out=out, train=False)
    return out
