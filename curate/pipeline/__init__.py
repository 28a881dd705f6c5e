"""Stage contract, registry, runner and run directory."""

from curate.pipeline.registry import get, names, register
from curate.pipeline.stage import (
    GlobalStage,
    RowStage,
    Rule,
    Stage,
    StageConfig,
    StageContext,
    StageResult,
    mark_removed,
)

__all__ = [
    "GlobalStage",
    "RowStage",
    "Rule",
    "Stage",
    "StageConfig",
    "StageContext",
    "StageResult",
    "get",
    "mark_removed",
    "names",
    "register",
]
