"""``score.uncertainty``: prompt uncertainty (Active Instruction Tuning, Kung et al. 2023)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl
import xxhash
from pydantic import Field

from curate.lm.likelihood import AnswerNLL, Row
from curate.lm.options import ScoreOptions, score
from curate.lm.pairs import Pairs, encode_pairs, per_row
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageResult

# one unit per CJK character (Chinese has no spaces), else a run of non-space characters
_UNITS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+|\s+")


def drop_units(text: str, p: float, rng: np.random.Generator) -> str:
    """``text`` with each word (each character in Chinese) dropped with probability ``p``.

    Units, not tokens: dropping byte-level BPE pieces of a Chinese character would leave broken
    UTF-8; a dropped unit is what a paraphrase-free "noisy instruction" means in either language.

    >>> drop_units("a b c", 0.0, np.random.default_rng(0))
    'a b c'
    """
    parts = _UNITS.findall(text)
    keep = rng.random(len(parts)) >= p
    return "".join(u for u, k in zip(parts, keep, strict=True) if k or u.isspace())


@register("score.uncertainty")
class PromptUncertainty(GlobalStage):
    """Write ``score_uncertainty``: how much the answer's likelihood moves when the prompt is noised.

    For each row, ``k`` copies of the instruction (the user turn before the scored answer) lose
    each word, or each character in Chinese, with probability ``p`` (seeded per row, so re-runs hit
    the cache); the score is the mean absolute change of the answer's mean NLL (nats per token)
    against the intact prompt. Active Instruction Tuning picks tasks whose prompts the model is
    most uncertain about: a high value means the answer depends on the exact wording. With a
    ``task`` column, ``score_uncertainty_task`` holds the task's mean and the stats list it per task
    (the paper's unit of selection). Nothing is removed; select with ``select.top``.
    Cost: ``k + 1`` forward passes per row (~5 x ``score.perplexity`` at the default k=4).
    """

    class Config(ScoreOptions):
        k: int = Field(4, ge=1, le=32, description="perturbed copies of each prompt")
        p: float = Field(0.2, gt=0, lt=1, description="probability of dropping each word / CJK character")
        seed: int | None = Field(None, description="overrides the recipe seed")

    cfg: Config

    @classmethod
    def estimate_cost(cls, cfg: Config, df: pl.DataFrame, *, seed: int = 0) -> dict[str, Any]:
        """Rows, tokens and minutes this stage would take on ``df`` (``curate validate``)."""
        from curate.lm.estimate import estimate_pairs

        return estimate_pairs(df, cfg, passes=cfg.k + 1, seed=seed)

    def _perturbed(self, df: pl.DataFrame) -> pl.DataFrame:
        seed = self.cfg.seed if self.cfg.seed is not None else self.ctx.seed
        out_msgs = []
        for rid, msgs in zip(df["id"].to_list(), df["messages"].to_list(), strict=True):
            msgs = list(msgs or [])
            last_a = max(
                (i for i, m in enumerate(msgs) if m["role"] in ("assistant", "tool_call")), default=-1
            )
            users = [i for i, m in enumerate(msgs[:last_a]) if m["role"] == "user"]
            for j in range(self.cfg.k):
                rng = np.random.default_rng([seed, xxhash.xxh32_intdigest(str(rid).encode()), j])
                copy = [dict(m) for m in msgs]
                if users:
                    copy[users[-1]]["content"] = drop_units(copy[users[-1]]["content"] or "", self.cfg.p, rng)
                out_msgs.append(copy)
        rep = df.gather(np.repeat(np.arange(df.height), self.cfg.k)) if df.height else df
        return rep.with_columns(pl.Series("messages", out_msgs, dtype=df.schema["messages"]))

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: the table, the model, and ``k + 1`` prompt variants per row as text and token
        ids (Python lists) until scored; the scores are two columns."""
        c = self.cfg
        scorer = self.ctx.models.scorer(c.model, quantize=c.quantize)
        rows, pairs = self.passes(df, scorer.tokenizer)
        res, stats = score(self.name, scorer, rows, n_rows=df.height, cache_dir=self.ctx.cache_dir,
                           batch_tokens=c.batch_tokens)  # fmt: skip
        return self.scored(df, pairs, res, stats)

    # The steps around the model passes; the Ray executor perturbs and tokenizes on the driver,
    # runs the passes in an actor pool (``pipeline.executors.ray.models``), ``scored`` on the driver.

    def passes(self, df: pl.DataFrame, tokenizer: Any) -> tuple[list[Row], tuple[Pairs, Pairs]]:
        """The pairs to score, intact prompts first, then the ``k`` perturbed copies of each row."""
        c = self.cfg
        opts = dict(part="answer", turns="last", render=c.render,
                    max_answer_tokens=c.max_answer_tokens, max_tokens=c.max_tokens)  # fmt: skip
        base = encode_pairs(df, tokenizer, **opts)
        noisy = encode_pairs(self._perturbed(df), tokenizer, **opts)
        return [*base.cond, *noisy.cond], (base, noisy)

    def scored(self, df: pl.DataFrame, pairs: tuple[Pairs, Pairs], res: AnswerNLL,
               stats: dict[str, Any]) -> StageResult:  # fmt: skip
        """The uncertainty column from the intact and perturbed pairs' NLLs, and the per-task means."""
        c = self.cfg
        base, noisy = pairs
        nb = len(base)
        nll0, tok0 = per_row(base, df.height, res.nll[:nb], res.tokens[:nb])
        nllk, tokk = per_row(noisy, df.height * c.k, res.nll[nb:], res.tokens[nb:])
        with np.errstate(invalid="ignore", divide="ignore"):
            m0 = np.where(tok0 > 0, nll0 / np.maximum(tok0, 1), np.nan)
            mk = np.where(tokk > 0, nllk / np.maximum(tokk, 1), np.nan).reshape(df.height, c.k)
            unc = np.nanmean(np.abs(mk - m0[:, None]), axis=1) if c.k else m0 * np.nan
        kept = df.with_columns(pl.Series("score_uncertainty", unc, dtype=pl.Float64).fill_nan(None))
        if "task" in kept.columns and kept["task"].is_not_null().any():
            kept = kept.with_columns(score_uncertainty_task=pl.col("score_uncertainty").mean().over("task"))
            per_task = kept.group_by("task").agg(pl.col("score_uncertainty").mean()).sort("task")
            stats["per_task"] = {str(t): v for t, v in per_task.iter_rows()}
        stats["caps"] = {**c.caps(), "k": c.k, "p": c.p}
        return StageResult(kept=kept, stats=stats)
