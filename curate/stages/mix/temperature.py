"""``mix.temperature``: temperature sampling across sources or domains, q_i ∝ n_i^(1/T)."""

from __future__ import annotations

import logging

import polars as pl
from pydantic import Field

from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageResult, mark_removed
from curate.stages.mix.allocate import allocate, group_units
from curate.stages.mix.ratio import MixConfig, measured, repeat_warning
from curate.stages.mix.report import merge_groups
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

    def apply(self, df: pl.DataFrame) -> StageResult:
        cfg = self.cfg
        df = measured(self, df)
        unit_col = UNIT_COLUMN[cfg.unit]
        sizes = group_units(df, by=cfg.by, unit_col=unit_col)
        shares = temperature_shares(sizes, cfg.temperature)
        total = cfg.total_units or sum(sizes.values())
        targets = {g: q * total for g, q in shares.items()}
        alloc = allocate(
            df,
            by=cfg.by,
            targets=targets,
            unit_col=unit_col,
            max_copies=cfg.max_copies_per_row,
            seed=self.seed,
        )
        groups = merge_groups(alloc.groups, alloc.kept, by=cfg.by, target_shares=shares)
        warnings = [
            f"{g['group']}: target share {g['target_share']:.3f} needs more than "
            f"max_copies_per_row={cfg.max_copies_per_row} repeats"
            for g in groups
            if not g["met"]
        ]
        if alloc.added:
            warnings.append(repeat_warning(alloc.added, alloc.kept.height, cfg.max_copies_per_row))
        for w in warnings:
            log.warning("mix.temperature: %s", w)
        stats = {
            "unit": cfg.unit,
            "by": cfg.by,
            "temperature": cfg.temperature,
            "total_units_target": round(total, 2),
            "groups": groups,
            "repeats": alloc.added,
            "warnings": warnings,
        }
        removed = mark_removed(alloc.dropped, stage=self.name, reason="mix_downsampled")
        return StageResult(kept=alloc.kept, removed=removed, added=alloc.added, stats=stats)
