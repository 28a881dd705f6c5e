"""The example notebook runs: its code cells execute in order against the shipped quickstart data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_explore_run_notebook_executes(tmp_path: Path):
    nb = json.loads((ROOT / "examples" / "explore_run.ipynb").read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    ns: dict = {}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for cell in code:
            exec(compile(cell, "explore_run.ipynb", "exec"), ns)
    finally:
        os.chdir(cwd)
    assert ns["result"].output.height > 100
    assert ns["reasons"].height > 0
    assert ns["stricter"].height <= ns["scored"].height
