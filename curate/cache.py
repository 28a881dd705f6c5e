"""The ``CURATE_CACHE`` layout, in one place: what lives where, how big it is, and how to clear it.

One root (``CURATE_CACHE``, default ``~/.cache/curate``) holds one folder per kind. Everything in it
can be rebuilt, so ``curate cache clear`` is always safe; it only costs the next run the rebuild
time listed per kind below. A ground-floor module: it imports nothing of curate, so the text
kernels may ask it for a path without pulling in the model loaders.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# kind -> what it holds and what clearing it costs
KINDS: dict[str, str] = {
    "models": "packaged GGUF models converted to safetensors (rebuilt on first load, ~10 s each)",
    "tokenized": "tokenized training data, Arrow memory-maps (rebuilt by the next `curate train`)",
    "scores": "model scores and embeddings by (model, content hash), for model-backed stages",
    "charclass": "the per-polars-version character-class table of the text kernels (~0.1 s)",
}


def cache_root() -> Path:
    """The cache root: ``CURATE_CACHE`` if set, else ``~/.cache/curate``."""
    return Path(os.environ.get("CURATE_CACHE", Path.home() / ".cache" / "curate"))


def cache_dir(kind: str) -> Path:
    """The folder of one kind (not created here)."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}; valid: {', '.join(KINDS)}")
    return cache_root() / kind


@dataclass(frozen=True)
class Usage:
    """What one kind holds right now."""

    kind: str
    path: Path
    files: int
    bytes: int
    about: str


def usage() -> list[Usage]:
    """Files and bytes per kind (a missing folder is empty)."""
    out = []
    for kind, about in KINDS.items():
        d = cache_dir(kind)
        files = [p for p in d.rglob("*") if p.is_file()] if d.is_dir() else []
        out.append(Usage(kind, d, len(files), sum(p.stat().st_size for p in files), about))
    return out


def clear(kinds: list[str] | None = None) -> int:
    """Delete the folders of ``kinds`` (all when None); returns the bytes freed."""
    freed = 0
    for u in usage():
        if kinds is None or u.kind in kinds:
            if u.path.is_dir():
                shutil.rmtree(u.path)
            freed += u.bytes
    return freed
