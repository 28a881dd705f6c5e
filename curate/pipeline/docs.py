"""The stage reference, generated from each stage's docstring and typed config.

Generated rather than hand-written so the docs cannot drift from what a recipe accepts.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic_core import PydanticUndefined

from curate.pipeline import registry


def _type_name(ann: Any) -> str:
    s = getattr(ann, "__name__", None) if not getattr(ann, "__args__", None) else None
    return s or str(ann).replace("typing.", "").replace("NoneType", "None")


def options(name: str) -> list[dict[str, str]]:
    """Name, type, default and description of each option of stage ``name``."""
    cls = registry.get(name)
    out = []
    for fname, f in cls.Config.model_fields.items():
        default = (
            "required"
            if f.default is PydanticUndefined and f.default_factory is None
            else (repr(f.default) if f.default_factory is None else repr(f.default_factory()))
        )
        out.append(
            {
                "name": fname,
                "type": _type_name(f.annotation),
                "default": default,
                "description": f.description or "",
            }
        )
    return out


def _summary(name: str) -> tuple[str, str]:
    doc = inspect.getdoc(registry.get(name)) or ""
    first, _, rest = doc.partition("\n")
    return first.strip(), rest.strip()


def stage_reference(name: str | None = None, *, markdown: bool = False) -> str:
    """One stage's options, or every stage with its one-line summary (or full Markdown)."""
    names = [name] if name else registry.names()
    if not markdown and name is None:
        width = max(len(n) for n in names)
        return "\n".join(f"{n.ljust(width)}  {_summary(n)[0]}" for n in names)
    parts = []
    for n in names:
        first, rest = _summary(n)
        if markdown:
            parts.append(
                f"### `{n}`\n\n{first}\n\n{rest}\n\n| option | type | default | meaning |\n|---|---|---|---|"
            )
            parts += [
                f"| `{o['name']}` | `{o['type']}` | `{o['default']}` | {o['description']} |"
                for o in options(n)
            ]
            parts.append("")
        else:
            parts.append(f"{n}: {first}\n\n{rest}\n\noptions:")
            parts += [
                f"  {o['name']} ({o['type']}, default {o['default']}): {o['description']}" for o in options(n)
            ]
    return "\n".join(parts)
