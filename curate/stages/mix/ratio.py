"""``mix.ratio``: mix domains (or sources) at target shares, counted in examples or tokens."""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.errors import StageError
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult
from curate.stages.mix.allocate import (
    Plan,
    allocation_columns,
    group_expr,
    group_units,
    plan_copies,
    take_copies,
)
from curate.stages.mix.cap import cap_plan
from curate.stages.mix.report import MEASURES, merge_groups
from curate.stages.mix.tokens import UNIT_COLUMN, Unit, measure, needs_tokens, tokenizer_for

log = logging.getLogger(__name__)


class MixConfig(StageConfig):
    """Knobs every target-share mixing stage shares."""

    by: str = Field("domain", description="column whose values are the groups mixed: domain, source or task")
    unit: Unit = Field(
        "assistant_tokens",
        description="what shares count: examples, tokens (rendered with the chat template), "
        "assistant_tokens (loss-bearing, the SFT default), chars or assistant_chars (no tokenizer)",
    )
    max_copies_per_row: int = Field(
        1,
        ge=1,
        description="most times one row may appear: 1 (default) never repeats a row and reports the "
        "achieved mix as a warning; >1 up-samples short groups, and the repeats are reported",
    )
    report_tokens: bool = Field(
        True, description="count tokens for the report even when unit is not in tokens"
    )
    model: str | None = Field(None, description="tokenizer for token units (default: the training model)")
    seed: int | None = Field(None, description="overrides the recipe seed")


def measured(stage: GlobalStage, df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with the measure columns the stage's unit and report need."""
    cfg: Any = stage.cfg
    want_tokens = needs_tokens(cfg.unit) or cfg.report_tokens
    return measure(df, tokenizer=tokenizer_for(stage.ctx, cfg.model) if want_tokens else None)


@register("mix.ratio")
class MixRatio(GlobalStage):
    """Mix groups at target shares: one anchored domain vs the rest (1:N), or explicit weights.

    Anchored (``domain`` + ``general_per_domain``): all of ``domain`` is kept and every other group
    together is sampled to N times its size, split among them by their own sizes. The domain is the
    anchor because it is the scarce data the run exists for; general data is plentiful and only
    there to keep general ability (1:5 to 1:10 is the usual range). If the rest is too small, it is
    used whole and the achieved ratio is a run warning; it is repeated only when the recipe asks
    (``max_copies_per_row`` > 1, default 1: 1:5 on 8,001 law + 12,502 general rows silently made
    25,004 repeats when the default was 3), or the domain is down-sampled to restore the ratio
    (``on_short: shrink_anchor``). Repeats are always counted (``added``, ``stats["repeats"]``) and
    named in a warning, so they show in the CLI summary, the manifest and the report.

    Weights (``weights``): shares proportional to the weights; by default the largest mix that needs
    no repeats (the scarcest group relative to its weight is kept whole), or ``total_units``.

    Counted in ``unit``; assistant tokens by default because that is what SFT trains on. Down-sampling
    is without replacement (reason ``mix_downsampled``), seeded and deterministic; repeats are tagged
    ``score_copy`` and counted in ``added``.
    """

    class Config(MixConfig):
        domain: str | None = Field(None, description="the anchored group (a value of `by`): kept whole")
        general_per_domain: float | None = Field(
            None, gt=0, description="units of all other groups together per unit of `domain` (5 = 1:5)"
        )
        weights: dict[str, float] | None = Field(
            None,
            description="relative weight per group, e.g. {medical: 1, general: 5}; "
            "unlisted groups are removed",
        )
        total_units: float | None = Field(
            None, gt=0, description="with weights: output size in `unit` (default: no repeats)"
        )
        on_short: Literal["repeat", "shrink_anchor"] = Field(
            "repeat",
            description="when the rest cannot reach N x domain: repeat it (capped) or shrink the domain",
        )
        per_task_cap: int | None = Field(
            None, ge=1, description="first keep at most this many random rows per task"
        )

        @model_validator(mode="after")
        def _mode(self) -> MixRatio.Config:
            anchored = self.domain is not None or self.general_per_domain is not None
            if anchored == (self.weights is not None):
                raise ValueError("give either domain + general_per_domain, or weights")
            if anchored and (self.domain is None or self.general_per_domain is None):
                raise ValueError("domain and general_per_domain go together")
            if self.weights is not None and (not self.weights or any(w < 0 for w in self.weights.values())):
                raise ValueError("weights must be non-empty and non-negative")
            return self

    cfg: Config

    def prepare(self, df: pl.DataFrame) -> pl.DataFrame:
        """The row-local part: measure columns (token counts: the costly part, per block on Ray)."""
        return measured(self, df)

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """What ``plan`` reads per row of the ``prepare``d table: group, task, unit and measures."""
        names = [self.cfg.by, *(["task"] if self.cfg.per_task_cap is not None else [])]
        names += [c for c in (UNIT_COLUMN[self.cfg.unit], *MEASURES) if c and c in schema]
        return [pl.col(c) for c in dict.fromkeys(names)]

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: streamed (the local runner, ``executors.planned``) or on Ray, the narrow columns
        (group, task, units: tens of bytes a row), the plan (~20 bytes a row) and one prepared shard
        or block at a time; its measure columns are kept on disk per shard, not computed twice;
        called on a frame, the table with its measure columns."""
        df = self.prepare(df)
        return self.plan(df.select(self.narrow(df.schema))).apply(df)

    def plan(self, narrow: pl.DataFrame) -> Plan:
        """The mix decided from ``narrow`` columns: per-task cap, unlisted groups, then the
        allocation (``plan_copies``); one decision, run by every executor."""
        cfg, seed = self.cfg, self.seed
        reasons = ["task_cap", "mix_unlisted_group", "mix_downsampled"]
        plan = Plan.of(narrow.height, stage=self.name, reasons=reasons, tag_copies=cfg.max_copies_per_row > 1)
        if narrow.height == 0:
            plan.stats = {"rows_in": 0}
            return plan
        pos = np.arange(narrow.height)
        if cfg.per_task_cap is not None:
            c, _ = cap_plan(
                narrow.select(allocation_columns(by="task", unit_col=None)),
                max_rows=cfg.per_task_cap,
                seed=seed,
            )
            plan.mark(pos[c == 0], reason="task_cap", threshold=cfg.per_task_cap)
            narrow, pos = narrow.filter(pl.Series(c > 0)), pos[c > 0]
        unit_col = UNIT_COLUMN[cfg.unit]
        if cfg.weights is not None:
            listed = self._listed(narrow)
            plan.mark(pos[~listed], reason="mix_unlisted_group")
            narrow, pos = narrow.filter(pl.Series(listed)), pos[listed]
        units = group_units(narrow, by=cfg.by, unit_col=unit_col)
        targets, shares, info = self._targets(units)
        copies, planned = plan_copies(
            narrow.select(allocation_columns(by=cfg.by, unit_col=unit_col)),
            targets=targets,
            max_copies=cfg.max_copies_per_row,
            seed=seed,
        )
        plan.mark(pos[copies == 0], reason="mix_downsampled")
        every = plan.rows["copies"].to_numpy().copy()
        every[pos] = copies  # repeats of the rows the allocation kept (1 for a pure down-sample)
        plan.rows = plan.rows.with_columns(copies=pl.Series(every))
        kept, _, added = take_copies(narrow, copies, tag=True)
        groups = merge_groups(planned, kept, by=cfg.by, target_shares=shares)
        stats = {"unit": cfg.unit, "by": cfg.by, **info, "groups": groups, "warnings": _warnings(groups, cfg)}
        if cfg.domain is not None:
            got = {g["group"]: g["units_out"] for g in groups}
            anchor = got.get(cfg.domain, 0.0)
            rest = sum(v for k, v in got.items() if k != cfg.domain)
            stats["achieved_general_per_domain"] = round(rest / anchor, 3) if anchor else None
            if abs(rest - cfg.general_per_domain * anchor) > max(1.0, 0.02 * rest):
                stats["warnings"].append(
                    f"achieved 1:{stats['achieved_general_per_domain']} "
                    f"instead of 1:{cfg.general_per_domain:g}"
                    f" ({cfg.unit}); add general data, or set max_copies_per_row > 1 to repeat rows"
                )
        stats["repeats"] = added
        if added:
            stats["warnings"].append(repeat_warning(added, int(copies.sum()), cfg.max_copies_per_row))
        for w in stats["warnings"]:
            log.warning("mix.ratio: %s", w)
        plan.stats, plan.warnings = stats, list(stats["warnings"])
        return plan

    def _listed(self, narrow: pl.DataFrame) -> np.ndarray:
        """Rows whose group has a weight; a weight naming no group is an error."""
        weights = self.cfg.weights or {}
        present = set(group_units(narrow, by=self.cfg.by, unit_col=None))
        missing = sorted(set(weights) - present)
        if missing and narrow.height:
            raise StageError(
                f"weights name {missing} but column {self.cfg.by!r} has only {sorted(present)}",
                stage=self.name,
                hint="check the spelling, or the `by` column",
            )
        return narrow.select(group_expr(self.cfg.by).is_in(list(weights))).to_series().to_numpy()

    def _targets(self, units: dict[str, float]) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
        cfg = self.cfg
        if cfg.weights is not None:
            wsum = sum(cfg.weights.values()) or 1.0
            shares = {g: cfg.weights.get(g, 0.0) / wsum for g in units}
            fits = [u / shares[g] for g, u in units.items() if shares[g] > 0]
            total = cfg.total_units or (min(fits) if fits else 0.0)
            return (
                {g: s * total for g, s in shares.items()},
                shares,
                {"mode": "weights", "total_units_target": total},
            )
        k, anchor = float(cfg.general_per_domain or 0), str(cfg.domain)
        if anchor not in units:
            raise StageError(
                f"anchor domain {anchor!r} not found in column {cfg.by!r} (groups: {sorted(units)})",
                stage=self.name,
            )
        a = units[anchor]
        rest = {g: u for g, u in units.items() if g != anchor}
        rest_total = sum(rest.values())
        if cfg.on_short == "shrink_anchor" and rest_total < k * a:
            a = rest_total / k
            targets = {anchor: a, **rest}
        else:
            targets = (
                {anchor: a, **{g: k * a * u / rest_total for g, u in rest.items()}}
                if rest_total
                else {anchor: a}
            )
        shares = {anchor: 1 / (1 + k), **{g: k / (1 + k) * u / (rest_total or 1) for g, u in rest.items()}}
        plan = {"mode": "anchored", "domain": anchor, "general_per_domain": k}
        return targets, shares, plan


def _warnings(groups: list[dict[str, Any]], cfg: Any) -> list[str]:
    return [
        f"{g['group']}: target {g['units_target']:,.0f} {cfg.unit} not reachable with "
        f"max_copies_per_row={cfg.max_copies_per_row} (got {g['units_out']:,.0f})"
        for g in groups
        if not g["met"]
    ]


def repeat_warning(added: int, rows_out: int, max_copies: int) -> str:
    """The sentence that makes up-sampling visible wherever warnings are shown."""
    return (
        f"{added:,} of {rows_out:,} output rows ({added / max(rows_out, 1):.0%}) are repeats "
        f"(max_copies_per_row={max_copies}); a repeated row is trained on more than once"
    )
