"""The notebook API: curate.load, curate.stats, curate.run stay callable whatever has been imported."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import curate

DATA = Path(__file__).resolve().parent / "data"


def test_api_functions_are_not_shadowed_by_submodules():
    for mod in pkgutil.walk_packages(curate.__path__, "curate."):
        if ".train." in mod.name or mod.name.endswith("__main__"):
            continue  # torch-heavy or runs the CLI; names checked below anyway
        importlib.import_module(mod.name)
    assert callable(curate.load) and callable(curate.stats) and callable(curate.run)


def test_load_and_stats_on_a_real_file():
    df = curate.load(DATA / "prh.jsonl")
    s = curate.stats(df)
    assert s["rows"] == df.height > 0
    assert s["kinds"] == {"chat": df.height}
    assert s["lengths"]["user"]["max"] >= s["lengths"]["user"]["p50"] > 0
