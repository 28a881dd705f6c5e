"""The example notebook runs: its code cells execute in order against the shipped quickstart data."""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
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
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")
            for cell in code:
                exec(compile(cell, "explore_run.ipynb", "exec"), ns)
    finally:
        os.chdir(cwd)
    assert [str(w.message) for w in caught] == []  # the notebook's output shows no warnings
    assert "Warning" not in printed.getvalue()
    assert ns["result"].output.height > 100
    assert ns["reasons"].height > 0
    assert ns["stricter"].height <= ns["scored"].height
    assert ns["near"]["kept_text"].null_count() == 0  # near-duplicates as texts, not hashes
    assert 0 < ns["what_if"].removed < ns["kept"].height
    assert ns["run"].plot_scores("filter.length").data  # the figure the notebook shows
    assert "removed by dedup" in str(ns["run"].trace(ns["near"]["origin"][0]))
