"""Word lists shipped under ``curate/data/wordlists`` (one entry per line, ``#`` comments) or given by path.

Lists are data, not code (STYLE.md habit 9): a recipe names a shipped list (``stopwords_en``) or a
file of its own, and the stage reads it once when it is built.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from curate.errors import RecipeError

# Next to the code (curate/data/wordlists), found from this file: ``curate`` is a namespace package
# under an editable install, where importlib.resources.files("curate") cannot list a folder.
_DIR = Path(__file__).resolve().parent.parent / "data" / "wordlists"


def shipped() -> list[str]:
    """Names of the lists that ship with curate (file stems)."""
    return sorted(p.stem for p in _DIR.glob("*.txt"))


@lru_cache(maxsize=64)
def load(name_or_path: str) -> tuple[str, ...]:
    """Entries of a shipped list (``"refusal_zh"``) or of a file path, in file order, de-duplicated.

    Raises RecipeError naming the valid shipped lists when neither exists.
    """
    path = Path(name_or_path).expanduser()
    if path.suffix or path.exists() or "/" in name_or_path:
        if not path.is_file():
            raise RecipeError(f"word list file not found: {name_or_path}", key="path")
        text = path.read_text(encoding="utf-8")
    else:
        res = _DIR / f"{name_or_path}.txt"
        if not res.is_file():
            raise RecipeError(f"unknown word list {name_or_path!r}", key="list", valid=", ".join(shipped()))
        text = res.read_text(encoding="utf-8")
    seen: dict[str, None] = {}
    for line in text.splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            seen[entry] = None
    return tuple(seen)


def load_many(names: list[str] | tuple[str, ...], extra: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:
    """Union of several lists plus inline ``extra`` entries, order kept."""
    out: dict[str, None] = {}
    for n in names:
        out.update(dict.fromkeys(load(n)))
    out.update(dict.fromkeys(e for e in extra if e))
    return tuple(out)
