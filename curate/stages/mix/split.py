"""``split``: a held-out eval split per domain, stratified, seeded and leak-free."""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.errors import StageError
from curate.fields import Field as TextField
from curate.fields import field_text
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult
from curate.stages.mix.allocate import Plan, group_expr, group_rng, take_closest
from curate.text.dupclusters import by_components
from curate.text.minhash import near_duplicate_groups

log = logging.getLogger(__name__)


def normalized(field: str) -> pl.Expr:
    """The compared text of each row: ``field``, lowercased, whitespace runs as one space, stripped."""
    return field_text(field).str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def leak_groups(
    df: pl.DataFrame, *, field: str, check: str, threshold: float, seed: int, workers: int = 1
) -> tuple[np.ndarray, dict[str, int]]:
    """A group id per row such that rows which must not straddle a split share one.

    Always joined: same content ``id`` (exact duplicates and up-sampled repeats) and the same
    normalized ``field`` text. With ``check="near"`` also rows whose ``field`` shingles reach
    ``threshold`` MinHash Jaccard.
    """
    norm = df.select(normalized(field)).to_series()
    near = (
        near_duplicate_groups(norm, threshold=threshold, seed=seed, workers=workers)[0]
        if check == "near"
        else None
    )
    return leak_groups_of(df["id"], norm.hash(), near)


def leak_groups_of(
    ids: pl.Series, keys: pl.Series, near: np.ndarray | None
) -> tuple[np.ndarray, dict[str, int]]:
    """``leak_groups`` from what it reads: content ids, a hash of each normalized text (a rare
    collision only joins two rows on one side) and the near-duplicate group of each row (the
    smallest row of its MinHash component; None without the near check)."""
    if ids.len() == 0:  # an empty table (everything removed upstream): no groups
        return np.zeros(0, dtype=np.int64), {"exact_merges": 0, "near_merges": 0}
    frame = pl.DataFrame({"id": ids, "t": keys}).with_row_index("i")
    first_by_id = frame.select(pl.col("i").min().over("id")).to_series().to_numpy()
    first_by_text = frame.select(pl.col("i").min().over("t")).to_series().to_numpy()
    n = ids.len()
    exact_i = np.concatenate([np.arange(n), np.arange(n)])
    exact_j = np.concatenate([first_by_id, first_by_text]).astype(np.int64)
    exact = by_components(n, exact_i, exact_j, np.arange(n))
    info = {"exact_merges": int(n - np.unique(exact).size), "near_merges": 0}
    if near is not None:
        info["near_merges"] = int(n - np.unique(near).size)
    else:
        near = np.arange(n)
    edges_i, edges_j = np.concatenate([exact_i, np.arange(n)]), np.concatenate([exact_j, near])
    g = by_components(n, edges_i, edges_j, np.arange(n))
    return g, info


@register("split")
class Split(GlobalStage):
    """Hold out an eval split per stratum (domain by default): ``fraction`` of its rows, or ``n``.

    Leak-free by construction: rows are first grouped so that exact duplicates (same content id or
    the same normalized ``leak_field``) and, with ``leak_check: near``, near-duplicates (MinHash
    Jaccard of character 5-gram shingles >= ``near_threshold``) share a group, and whole groups are
    drawn into eval. ``leak_field`` defaults to the user turns: a question seen in training leaks
    even with another answer, while the system prompt is shared by a whole task and must not count.
    Eval rows leave the main flow in ``side["eval"]``; the runner writes them (see
    ``curate.formats.evalset.write_eval_files``).
    """

    class Config(StageConfig):
        fraction: float = Field(0.05, gt=0, lt=1, description="share of each stratum's rows held out")
        n: int | None = Field(None, ge=1, description="rows held out per stratum (overrides fraction)")
        by: str | None = Field("domain", description="stratify by this column (null: one stratum)")
        leak_check: Literal["exact", "near"] = Field(
            "near", description="exact duplicates only, or also near ones"
        )
        leak_field: TextField = Field(
            "user", description="text compared for leaks: user, all, first_user, ..."
        )
        near_threshold: float = Field(
            0.8, gt=0, le=1, description="MinHash Jaccard at which two rows are one group"
        )
        seed: int | None = Field(None, description="overrides the recipe seed")

    cfg: Config

    def narrow(self, schema: pl.Schema) -> list[pl.Expr]:
        """What ``plan`` reads per row: the content id, the compared text (normalized) and the
        stratum. The near check needs the text; without it a hash of the text is enough."""
        text = self.leak_text() if self.cfg.leak_check == "near" else self.leak_text().hash()
        return [pl.col("id"), text.alias("__leak"), self.stratum().alias("__stratum")]

    def leak_text(self) -> pl.Expr:
        """The compared text of each row (``normalized`` ``leak_field``)."""
        return normalized(self.cfg.leak_field)

    def stratum(self) -> pl.Expr:
        """Each row's stratum label (``by``; one stratum ``all`` without it)."""
        return group_expr(self.cfg.by) if self.cfg.by else pl.lit("all")

    def near_check(self) -> dict[str, Any]:
        """The leak check as a ``dedup.minhash`` config (``near_duplicate_groups``' settings; the
        texts are ``leak_text``): what the Ray executor runs distributed, its components named
        by their smallest row as ``near_duplicate_groups`` names them."""
        return {
            "field": "text", "shingle": "char", "shingle_chars": 5, "threshold": self.cfg.near_threshold,
            "fp_weight": 0.1, "fn_weight": 0.9, "num_perm": 128, "keep": "first", "seed": self.seed,
        }  # fmt: skip

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: the table plus the narrow columns (id, compared text, stratum) and the MinHash
        leak check's signatures (n x 128 uint32). Streamed by the local runner
        (``executors.planned``): the narrow columns (the normalized user text, or its hash with
        ``leak_check: exact``), the signatures and the plan, then one shard at a time. On Ray the
        leak check runs as dedup.minhash does (signatures, bands and components on the workers) and
        the driver holds the id, a hash of the text, the stratum and the near group (~40 bytes a
        row); the rows are split per block."""
        return self.plan(df.select(self.narrow(df.schema))).apply(df)

    def plan(self, narrow: pl.DataFrame) -> Plan:
        """Which rows go to eval, decided from ``narrow`` columns: one decision for every executor."""
        leak, near = narrow["__leak"], None
        if self.cfg.leak_check == "near" and narrow.height:
            near = near_duplicate_groups(
                leak, threshold=self.cfg.near_threshold, seed=self.seed, workers=self.ctx.threads
            )[0]
            leak = leak.hash()
        return self.plan_with(narrow.select("id", "__stratum", __leak=leak), near)

    def plan_with(self, narrow: pl.DataFrame, near: np.ndarray | None) -> Plan:
        """The split from ``narrow`` (id, text hash ``__leak``, ``__stratum``) and the near groups:
        the Ray executor computes ``near`` distributed and brings only these columns."""
        cfg = self.cfg
        seed = self.seed
        groups, info = leak_groups_of(narrow["id"], narrow["__leak"], near)
        strata = narrow["__stratum"].to_list()
        # a group's home stratum: the stratum of its first row
        home = pl.DataFrame({"g": groups, "s": strata}).with_row_index("i")
        sizes = home.group_by("g").agg(pl.col("s").first(), pl.len().alias("n"), pl.col("i").min()).sort("i")
        counts = dict(pl.Series(strata, dtype=pl.Utf8).value_counts().iter_rows())
        eval_groups: list[int] = []
        per: list[dict[str, Any]] = []
        for (name,), part in sizes.group_by("s", maintain_order=True):
            rows_in = int(counts[name])
            want = min(cfg.n if cfg.n is not None else round(cfg.fraction * rows_in), rows_in)
            part = part[group_rng(seed, str(name)).permutation(part.height)]
            take = take_closest(part["n"].to_numpy().astype(float), float(want))
            eval_groups.extend(part["g"].to_numpy()[take].tolist())
            per.append({"group": str(name), "rows_in": rows_in, "eval_target": int(want)})
        mask = np.isin(groups, np.array(eval_groups, dtype=np.int64))
        got = dict(pl.Series(strata, dtype=pl.Utf8).filter(pl.Series(mask)).value_counts().iter_rows())
        for d in per:
            d["eval_rows"] = int(got.get(d["group"], 0))
            d["train_rows"] = d["rows_in"] - d["eval_rows"]
        ids = narrow["id"]
        overlap = len(
            set(ids.filter(pl.Series(~mask)).to_list()) & set(ids.filter(pl.Series(mask)).to_list())
        )
        if overlap:  # cannot happen by construction; a loud check beats a silent leak
            raise StageError(f"split leaked {overlap} content ids between train and eval", stage=self.name)
        warnings = [
            f"{d['group']}: no training rows left" for d in per if d["train_rows"] == 0 and d["rows_in"]
        ]
        for w in warnings:
            log.warning("split: %s", w)
        plan = Plan.of(narrow.height, stage=self.name, reasons=[], sides=["eval"])
        plan.aside(np.flatnonzero(mask), side="eval")
        plan.stats = {
            "leak_check": cfg.leak_check,
            "leak_field": cfg.leak_field,
            "eval_rows": int(mask.sum()),
            "train_rows": int((~mask).sum()),
            "leak_groups": len(np.unique(groups)),
            **info,
            "id_overlap": overlap,
            "groups": per,
            "warnings": warnings,
        }
        plan.warnings = warnings
        return plan
