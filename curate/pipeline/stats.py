"""Typed stage stats that merge across batches: counts add, values that must agree are checked.

A row stage may run on any batch, so the executor merges the ``stats`` of every batch into one
dict. The merge does not guess from the value: ``Count(n)`` adds, ``Same(v)`` (a config echo, a
unit, a budget) must be equal in every batch or the run stops, and a dict merges key by key.
A plain int or float is taken as a count (what every stage reported before these types); any
other plain value must agree like ``Same``. The merged dict holds plain JSON values again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from curate.errors import StageError


class Count(int):
    """A number that adds across batches (rows, turns, tokens)."""


@dataclass(frozen=True)
class Same:
    """A value every batch must report identically; merging unequal ones is an error."""

    value: Any


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def merge_stats(total: dict[str, Any], part: dict[str, Any], *, stage: str, path: str = "") -> None:
    """Merge one batch's ``part`` into ``total`` in place (see module docstring for the rules)."""
    for k, v in part.items():
        key = f"{path}{k}"
        if k not in total:
            total[k] = {} if isinstance(v, dict) else v
            if isinstance(v, dict):
                merge_stats(total[k], v, stage=stage, path=f"{key}.")
            continue
        have = total[k]
        if isinstance(v, dict) and isinstance(have, dict):
            merge_stats(have, v, stage=stage, path=f"{key}.")
        elif isinstance(v, Same) or isinstance(have, Same) or not (_numeric(v) and _numeric(have)):
            a, b = (x.value if isinstance(x, Same) else x for x in (have, v))
            if a != b:
                raise StageError(
                    f"stat {key!r} differs between batches ({a!r} vs {b!r})",
                    stage=stage,
                    hint="report it as Count(...) if it adds up, or make it independent of the batch",
                )
        else:
            total[k] = type(have)(have + v) if isinstance(have, Count) else have + v


def plain(stats: Any) -> Any:
    """``stats`` with Same unwrapped and Count as int: plain JSON values for the manifest."""
    if isinstance(stats, dict):
        return {k: plain(v) for k, v in stats.items()}
    if isinstance(stats, Same):
        return plain(stats.value)
    if isinstance(stats, Count):
        return int(stats)
    return stats
