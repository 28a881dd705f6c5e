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


def limit_fields(config: type[StageConfig], *also: str) -> frozenset[str]:
    """A stage's thresholds (``RowStage.thresholds``): every ``min_*``/``max_*`` field of ``config``
    plus ``also``. Only ``rules`` may read them, so changing one re-splits cached scores
    (``tests/stages/filter/test_score_cache.py`` checks that ``transform`` ignores them)."""
    return frozenset(n for n in config.model_fields if n.startswith(("min_", "max_"))) | set(also)
