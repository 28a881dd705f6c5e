"""What rule filters share about the stage, not the text: the field knob, score names, range rules.

The text side (words, lines, ratios, phrase patterns) is ``curate.text.textstats``.
"""

from __future__ import annotations

from pydantic import Field as PydField

from curate.fields import Field
from curate.pipeline.stage import Rule, StageConfig


class FieldConfig(StageConfig):
    """Config base for stages that read one field of a row (see curate.fields)."""

    field: Field = PydField(
        "all",
        description="text the rule reads: text, user, assistant, last_assistant, first_user, system, all",
    )


def score_name(stat: str, field: str, default: str) -> str:
    """``score_<stat>`` for the stage's default field, ``score_<stat>_<field>`` otherwise.

    A recipe may run one stage on two fields (user, then assistant); the suffix keeps both columns.
    """
    return f"score_{stat}" if field == default else f"score_{stat}_{field}"


def range_rules(col: str, *, lo: float | None, hi: float | None, below: str, above: str) -> list[Rule]:
    """Rules for ``col < lo`` (reason ``below``) and ``col > hi`` (reason ``above``); None disables one."""
    return [*Rule.below(below, col, lo), *Rule.above(above, col, hi)]
