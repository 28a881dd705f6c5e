"""The run's manifest: recipe, versions, sources with licenses, per-stage counts, timings."""

from __future__ import annotations

import contextlib
import json
import os
import platform
from pathlib import Path
from typing import Any

from curate.version import __version__


def versions() -> dict[str, str]:
    """curate, Python and the libraries whose versions change results."""
    import importlib.metadata as md

    out = {"curate": __version__, "python": platform.python_version()}
    for pkg in ("polars", "pyarrow", "transformers", "torch", "peft"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Pretty JSON, UTF-8 kept readable (Chinese source names stay Chinese), written to a temp file
    and renamed: the manifest marks a run complete, so it must never exist half-written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)
