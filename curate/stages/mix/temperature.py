"""``mix.temperature``: temperature sampling across sources or domains, q_i ∝ n_i^(1/T)."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
from pydantic import Field

from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageResult
from curate.stages.mix.allocate import Plan, allocation_columns, group_units, plan_copies, take_copies
from curate.stages.mix.ratio import MixConfig, measured, repeat_warning
from curate.stages.mix.report import MEASURES, merge_groups
from curate.stages.mix.tokens import UNIT_COLUMN

log = logging.getLogger(__name__)


def temperature_shares(sizes: dict[str, float], temperature: float) -> dict[str, float]:
    """Shares q_i = n_i^(1/T) / Σ_j n_j^(1/T).

    >>> {k: round(v, 3) for k, v in temperature_shares({"a": 900, "b": 100}, 2.0).items()}
    {'a': 0.75, 'b': 0.25}
    """
    powered = {g: max(n, 0.0) ** (1.0 / temperature) for g, n in sizes.items()}
    whole = sum(powered.values())
    return {g: (p / whole if whole else 0.0) for g, p in powered.items()}


@register("mix.temperature")
class MixTemperature(GlobalStage):
    """Re-weight groups by temperature: q_i ∝ n_i^(1/T) (T=1 keeps natural sizes, large T → uniform).

    The multilingual-pretraining recipe (XLM-R, mT5) for lifting small sources without drowning the
    large ones; T=2 (square-root sampling) is a moderate default. The output keeps the input's total
    size in ``unit`` unless ``total_units`` is set, so large groups are down-sampled (reason
    ``mix_downsampled``) and small ones repeated up to ``max_copies_per_row``; a share that would
    need more repeats is reported as not met.
    """

    class Config(MixConfig):
        by: str = Field("source", description="column whose values are the groups: source or domain")
        temperature: float = Field(2.0, gt=0, description="T in q ∝ n^(1/T); 1 = natural sizes")
        max_copies_per_row: int = Field(
            3,
            ge=1,
            description="most times one row may appear; lifting small groups needs repeats, "
            "which are counted and named in a run warning",
        )
        total_units: float | None = Field(
            None, gt=0, description="output size in `unit` (default: the input's)"
        )

    cfg: Config

    def prepare(self, df: pl.DataFrame) -> pl.DataFrame:
        """The row-local part: measure columns (token counts: the costly part, per block on Ray)."""
        return measured(self, df)

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """What ``plan`` reads per row of the ``prepare``d table: the group, the unit and measures."""
        names = [self.cfg.by, *[c for c in (UNIT_COLUMN[self.cfg.unit], *MEASURES) if c and c in schema]]
        return [pl.col(c) for c in dict.fromkeys(names)]

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: streamed (the local runner, ``executors.planned``) or on Ray, the narrow columns
        (group, units, measures: tens of bytes a row), the plan (~20 bytes a row) and one prepared
        shard or block at a time; called on a frame, the table with its measure columns."""
        df = self.prepare(df)
        return self.plan(df.select(self.narrow(df.schema))).apply(df)

    def plan(self, narrow: pl.DataFrame) -> Plan:
        """Temperature shares -> targets -> rows and copies (``plan_copies``), from ``narrow``."""
        cfg = self.cfg
        unit_col = UNIT_COLUMN[cfg.unit]
        sizes = group_units(narrow, by=cfg.by, unit_col=unit_col)
        shares = temperature_shares(sizes, cfg.temperature)
        total = cfg.total_units or sum(sizes.values())
        targets = {g: q * total for g, q in shares.items()}
        copies, planned = plan_copies(
            narrow.select(allocation_columns(by=cfg.by, unit_col=unit_col)),
            targets=targets,
            max_copies=cfg.max_copies_per_row,
            seed=self.seed,
        )
        tag = cfg.max_copies_per_row > 1
        plan = Plan.of(narrow.height, stage=self.name, reasons=["mix_downsampled"], tag_copies=tag)
        plan.mark(np.flatnonzero(copies == 0), reason="mix_downsampled")
        plan.rows = plan.rows.with_columns(copies=pl.Series(copies, dtype=pl.Int64))
        kept, _, added = take_copies(narrow, copies, tag=tag)
        groups = merge_groups(planned, kept, by=cfg.by, target_shares=shares)
        warnings = [
            f"{g['group']}: target share {g['target_share']:.3f} needs more than "
            f"max_copies_per_row={cfg.max_copies_per_row} repeats"
            for g in groups
            if not g["met"]
        ]
        if added:
            warnings.append(repeat_warning(added, kept.height, cfg.max_copies_per_row))
        for w in warnings:
            log.warning("mix.temperature: %s", w)
        plan.stats = {
            "unit": cfg.unit,
            "by": cfg.by,
            "temperature": cfg.temperature,
            "total_units_target": round(total, 2),
            "groups": groups,
            "repeats": added,
            "warnings": warnings,
        }
        return plan
