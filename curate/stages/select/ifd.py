"""``select.ifd``: Instruction-Following Difficulty (Cherry LLM; Superfiltering), scored and selected."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.lm.likelihood import AnswerNLL
from curate.lm.options import ScoreOptions, score
from curate.lm.pairs import Pairs, encode_pairs, per_row
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult
from curate.stages.select.rank import Keep, check_where, in_scope, select_rows


class PreExperienceOptions(StageConfig):
    """Cherry LLM's brief pre-experience: a short LoRA on a small group-balanced sample."""

    rows: int = Field(1000, ge=1, description="rows in the training sample")
    by: str | None = Field(
        "cluster", description="balance the sample over this column (tag.clusters); seeded random if absent"
    )
    steps: int = Field(100, ge=1, description="optimizer steps")
    batch_size: int = Field(8, ge=1, description="examples per step")
    lr: float = Field(2e-4, gt=0, description="learning rate")
    rank: int = Field(8, ge=1, description="LoRA rank (alpha = 2 x rank)")
    max_len: int = Field(1024, ge=16, description="tokens per example (longer rows are not trained on)")


def balanced_sample(df: pl.DataFrame, n: int, by: str | None, seed: int) -> tuple[pl.DataFrame, str | None]:
    """``n`` rows spread evenly over ``by``'s groups (seeded; a small group gives all it has and
    the rest is shared out), or a seeded random sample when ``by`` is missing or all null."""
    if df.height <= n:
        return df, by if by in df.columns else None
    if by is None or by not in df.columns or df[by].is_null().all():
        return df.sample(n, seed=seed).sort("id"), None
    g = df.with_columns(_r=pl.int_range(pl.len()).shuffle(seed=seed).over(by), _n=pl.len().over(by))
    sizes = sorted(g.group_by(by).agg(pl.first("_n"))["_n"].to_list())
    quota, left, groups = 0, n, len(sizes)
    for s in sizes:  # the largest equal share every group can fill
        share = left // groups
        if s >= share:
            quota = share
            break
        left, groups = left - s, groups - 1
    picked = g.filter(pl.col("_r") < quota)
    rest = g.filter(pl.col("_r") >= quota)
    extra = rest.sample(n - picked.height, seed=seed) if picked.height < n else None
    out = pl.concat([picked, extra]) if extra is not None else picked
    return out.drop("_r", "_n").sort("id"), by


@register("select.ifd")
class SelectIFD(GlobalStage):
    """Keep the rows whose answer the instruction helps least, but does help: high IFD below 1.

    IFD = mean NLL(answer | instruction) / mean NLL(answer alone), over answer tokens only (Li et
    al. 2023, "From Quantity to Quality", Cherry LLM). ``ratio=perplexity`` uses Superfiltering's
    form (Li et al. 2024), PPL(answer | instruction) / PPL(answer) = exp(difference of the mean
    NLLs): the same rows fall at or above 1, but the order differs (docs/selection.md). IFD >= 1
    means the instruction does not make the answer more likely, often a misaligned pair, so ``max:
    1.0`` removes those first (reason ``above_max``); then ``top_n``/``top_fraction``/``min`` keep
    the hardest of the rest, globally or per ``by`` group (``not_top``, with the group's cut score
    as threshold). Multi-turn rows: the last assistant turn with the history as context, or
    ``turns: all`` (NLLs summed over every assistant turn before the ratio).

    Columns: ``score_ifd``, ``score_ifd_nll`` (mean NLL given the instruction, the log of
    ``score.perplexity``'s value, shared through the cache), ``score_ifd_nll_alone``,
    ``score_ifd_tokens`` and ``score_ifd_clipped`` (cut to the caps, which the stats record).
    Cost: two forward passes per row, the second over the answer alone (~1.3x one pass).
    Only chat rows are scored: a document (``kind: text``) has no instruction, so its IFD would be
    1 by construction and ``max`` would remove it; documents, and rows outside ``where`` (e.g.
    ``{source: lawbench}``, to spend the model passes on the domain's QA only), pass through
    unscored and are not counted in the ``top_*`` quotas.

    ``scorer: pre_experienced`` is Cherry LLM's full method: first a brief LoRA (``pre_experience``:
    ``steps`` on ``rows`` rows balanced over ``by``, the clusters of ``tag.clusters`` by default)
    through curate's own trainer, then IFD of every row under that adapter. The adapter, its sample
    and metrics are saved in the run directory (``pre_experience/``) and reused by re-runs.
    Memory: the table, the model, every row's context and answer as text and token ids (two passes).
    """

    class Config(ScoreOptions, Keep):
        ratio: Literal["loss", "perplexity"] = Field(
            "loss", description="loss: Cherry's NLL ratio; perplexity: Superfiltering's PPL ratio"
        )
        max: float | None = Field(1.0, description="remove rows with IFD at or above this (1: no help)")
        scorer: Literal["base", "pre_experienced"] = Field(
            "base", description="base: the model as given; pre_experienced: after a brief LoRA (Cherry)"
        )
        pre_experience: PreExperienceOptions = Field(
            default_factory=PreExperienceOptions, description="the brief training (scorer: pre_experienced)"
        )

    cfg: Config

    @classmethod
    def estimate_cost(cls, cfg: Config, df: pl.DataFrame, *, seed: int = 0) -> dict[str, Any]:
        """Rows, tokens and minutes this stage would take on ``df`` (``curate validate``)."""
        from curate.lm.estimate import estimate_pairs

        est = estimate_pairs(df.filter(cls.scored_rows(cfg, df)), cfg, passes=2, seed=seed)
        if cfg.scorer == "pre_experienced":
            from curate.lm.estimate import training_minutes

            pe = cfg.pre_experience
            t = training_minutes(cfg.model, steps=pe.steps, batch_size=pe.batch_size,
                                 tokens_per_row=min(pe.max_len, est["row_tokens"]))  # fmt: skip
            est["train_minutes"] = t
            est["minutes"] = round(est["minutes"] + t, 1)  # training does not grow with the rows
        return est

    def apply(self, df: pl.DataFrame) -> StageResult:
        c = self.cfg
        name, pre = self.scoring_model(df)
        scorer = self.ctx.models.scorer(name, quantize=c.quantize)
        pairs = self.pairs(df, scorer.tokenizer)
        res, stats = score(
            self.name,
            scorer,
            [*pairs.cond, *pairs.alone],
            n_rows=df.height,
            cache_dir=self.ctx.cache_dir,
            batch_tokens=c.batch_tokens,
        )
        return self.select(df, pairs, res, stats, pre)

    # The three steps ``apply`` runs; the Ray executor runs the first two on the driver (the
    # pre-experience is one training job; tokenizing costs ~1 ms a row) and the model passes
    # between them in an actor pool (``pipeline.executors.ray.models``).

    @staticmethod
    def scored_rows(cfg: Config, df: pl.DataFrame) -> pl.Series:
        """The rows IFD scores and selects among: chat rows inside ``where``."""
        check_where(cfg, df.schema, "select.ifd")
        keep = SelectIFD._keep(cfg, df)
        return df.select(in_scope(keep)).to_series()

    @staticmethod
    def _keep(cfg: Config, df: pl.DataFrame) -> Keep:
        """``cfg``'s keep step with documents left out of scope (no instruction: no IFD)."""
        if "kind" not in df.columns:
            return cfg
        return cfg.model_copy(update={"where": {**(cfg.where or {}), "kind": ["chat"]}})

    def scoring_model(self, df: pl.DataFrame) -> tuple[str, dict[str, Any] | None]:
        """The model name to score with and, for ``scorer: pre_experienced``, what was trained
        (the brief LoRA runs here, once, and is registered in the hub under the returned name)."""
        c = self.cfg
        if c.scorer != "pre_experienced":
            return c.model, None
        pe = c.pre_experience
        sample, by = balanced_sample(df, pe.rows, pe.by, self.ctx.seed)
        opts = pe.model_dump(exclude={"rows", "by"}) | {"by": by}
        name, pre = self.ctx.models.pre_experienced(c.model, sample, opts, seed=self.ctx.seed)
        return name, pre | {"by": by, "groups": sample[by].n_unique() if by else None}

    def pairs(self, df: pl.DataFrame, tokenizer: Any) -> Pairs:
        """The (context, answer) token pairs of every scored row, conditioned on the instruction."""
        c = self.cfg
        mask = self.scored_rows(c, df)
        at = np.flatnonzero(mask.to_numpy())
        p = encode_pairs(
            df.filter(mask),
            tokenizer,
            part="answer",
            turns=c.turns,
            render=c.render,
            max_answer_tokens=c.max_answer_tokens,
            max_tokens=c.max_tokens,
        )
        return Pairs(at[p.row], p.cond, p.alone, p.clipped)

    def select(
        self,
        df: pl.DataFrame,
        pairs: Pairs,
        res: AnswerNLL,
        stats: dict[str, Any],
        pre: dict[str, Any] | None,
    ) -> StageResult:
        """The score columns from the pairs' NLLs (conditioned, then alone), then the keep step."""
        c = self.cfg
        n = len(pairs)
        nll_c, tok_c = per_row(pairs, df.height, res.nll[:n], res.tokens[:n])
        nll_a, tok_a = per_row(pairs, df.height, res.nll[n:], res.tokens[n:])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_c = np.where(tok_c > 0, nll_c / np.maximum(tok_c, 1), np.nan)
            mean_a = np.where(tok_a > 0, nll_a / np.maximum(tok_a, 1), np.nan)
            ifd = mean_c / mean_a if c.ratio == "loss" else np.exp(mean_c - mean_a)
        clipped = np.bincount(pairs.row, weights=pairs.clipped, minlength=df.height) > 0
        scored = df.with_columns(
            pl.Series("score_ifd", ifd, dtype=pl.Float64).fill_nan(None),
            pl.Series("score_ifd_nll", mean_c, dtype=pl.Float64).fill_nan(None),
            pl.Series("score_ifd_nll_alone", mean_a, dtype=pl.Float64).fill_nan(None),
            pl.Series("score_ifd_tokens", tok_c, dtype=pl.Int64),
            pl.Series("score_ifd_clipped", clipped, dtype=pl.Boolean),
        )
        out = select_rows(scored, "score_ifd", self._keep(c, df), stage=self.name)
        out.stats.update(stats, caps={**c.caps(), "ratio": c.ratio})
        if pre is not None:
            out.stats["pre_experience"] = pre
        return out
