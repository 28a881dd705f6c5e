"""Fingerprints for resume: a stage's output is keyed by its input's fingerprint and its own config.

Content hashes (xxh3, GB/s), never mtimes, so touching or re-copying a source file does not re-run
anything, and a changed byte anywhere re-runs from the first stage it reaches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xxhash

from curate.schema import dumps


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able ``parts`` (configs, versions, previous fingerprints)."""
    return xxhash.xxh3_64_hexdigest(dumps(parts).encode())


def files_fingerprint(files: list[str]) -> list[tuple[str, str]]:
    """``(path, content hash)`` per file; a file that cannot be read hashes as ``missing``."""
    out = []
    for f in files:
        h = xxhash.xxh3_64()
        try:
            with open(f, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    h.update(chunk)
        except OSError:
            out.append((f, "missing"))
            continue
        out.append((f, h.hexdigest()))
    return out


def source_files(path: str | list[str], base: Path) -> list[str]:
    """Files a source names (for change detection only; the reader does its own expansion)."""
    out: list[str] = []
    for pat in [path] if isinstance(path, str) else path:
        p = Path(pat).expanduser()
        p = p if p.is_absolute() else base / p
        if p.is_dir():
            out += sorted(str(f) for f in p.rglob("*") if f.is_file())
        elif any(ch in str(p) for ch in "*?["):
            out += sorted(str(f) for f in Path(p.anchor).glob(str(p.relative_to(p.anchor))) if f.is_file())
        else:
            out.append(str(p))
    return out
