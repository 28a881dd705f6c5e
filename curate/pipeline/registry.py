"""Stage registry: names like ``filter.length`` map to stage classes.

Every built-in stage is listed by name and module in its family package's ``STAGES`` dict
(``curate/stages/filter/__init__.py`` etc.), so a recipe validates by importing only the stages it
uses. ``@register`` binds the class when that module is imported; a contract test checks the two
agree. Plugins call ``register`` directly before a run.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from curate.errors import RecipeError
from curate.pipeline.stage import Stage

FAMILIES: tuple[str, ...] = (
    "curate.stages.format",
    "curate.stages.filter",
    "curate.stages.clean",
    "curate.stages.dedup",
    "curate.stages.mix",
    "curate.stages.score",
    "curate.stages.select",
    "curate.stages.tag",
)

_REGISTRY: dict[str, type[Stage]] = {}
_frozen = False


def builtin_modules() -> dict[str, str]:
    """Stage name -> module for every built-in stage (imports only the small family packages)."""
    out: dict[str, str] = {}
    for fam in FAMILIES:
        out.update(getattr(importlib.import_module(fam), "STAGES", {}))
    return out


def register(name: str) -> Callable[[type[Stage]], type[Stage]]:
    """Class decorator: make ``cls`` the stage called ``name``."""

    def deco(cls: type[Stage]) -> type[Stage]:
        if _frozen and name not in _REGISTRY:
            raise RuntimeError(f"registry is frozen; register {name!r} before the run starts")
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls and existing.__qualname__ != cls.__qualname__:
            raise RuntimeError(f"stage {name!r} registered twice ({existing} and {cls})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def names() -> list[str]:
    """All known stage names, built-in and registered."""
    return sorted(set(builtin_modules()) | set(_REGISTRY))


def suggest(name: str, choices: list[str]) -> str | None:
    """Closest valid name, for 'did you mean' hints."""
    hit = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return hit[0] if hit else None


def get(name: str) -> type[Stage]:
    """The stage class for ``name``; an unknown name raises RecipeError with the nearest match."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    mods = builtin_modules()
    if name in mods:
        importlib.import_module(mods[name])
        if name in _REGISTRY:
            return _REGISTRY[name]
        raise RuntimeError(f"module {mods[name]} does not register stage {name!r}")
    near = suggest(name, names())
    raise RecipeError(
        f"unknown stage {name!r}",
        key=name,
        hint=f"did you mean {near!r}?" if near else "run `curate stages` to list them",
    )


@contextmanager
def frozen() -> Iterator[None]:
    """No new registrations while a run is in progress (the registry is the one global)."""
    global _frozen
    _frozen = True
    try:
        yield
    finally:
        _frozen = False
