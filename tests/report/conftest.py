"""One quickstart run (no training) shared by the report, API and trace tests: ~40 s on 2 cores."""

from __future__ import annotations

from pathlib import Path

import pytest

import curate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "quickstart"
    curate.run(ROOT / "recipes" / "quickstart.yaml", out=out, train=False)
    return out
