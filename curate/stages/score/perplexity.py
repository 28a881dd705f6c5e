"""``score.perplexity``: per-row perplexity under a causal LM, as a column."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from curate.lm.likelihood import AnswerNLL, Row
from curate.lm.options import ScoreOptions, score
from curate.lm.pairs import Pairs, Part, encode_pairs, per_row
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageResult


@register("score.perplexity")
class Perplexity(GlobalStage):
    """Write ``score_ppl``: exp(mean NLL) of the chosen part of each row under ``model``.

    ``part=answer`` (default) scores the assistant turn given the prompt and history, the loss
    training will see; ``conversation`` every token; ``text`` documents. Low perplexity means the
    model already predicts the text (easy, or seen before); very high often means noise or another
    language. Alongside: ``score_ppl_tokens`` (answer tokens scored, after the caps) and
    ``score_ppl_clipped`` (the row was cut to fit ``max_answer_tokens``/``max_tokens``); the caps are
    in the stage stats. Nothing is removed (select with ``select.top``); rows with nothing to score
    get null.

    Cost: one forward pass over context + answer per row: ~0.3 s a 256-token row on 2 cores with
    SmolLM2-135M (bench/README.md); the score cache makes a re-run free.
    """

    class Config(ScoreOptions):
        part: Part = Field("answer", description="answer (given the prompt), conversation, or text")
        column: str = Field("score_ppl", description="output column")

    cfg: Config

    @classmethod
    def estimate_cost(cls, cfg: Config, df: pl.DataFrame, *, seed: int = 0) -> dict[str, Any]:
        """Rows, tokens and minutes this stage would take on ``df`` (``curate validate``)."""
        from curate.lm.estimate import estimate_pairs

        return estimate_pairs(df, cfg, passes=1, part=cfg.part, seed=seed)

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: the table, the model, and every row's context and answer as text and token ids
        (Python lists: 8-36 bytes a token) until scored; the scores are three columns."""
        c = self.cfg
        scorer = self.ctx.models.scorer(c.model, quantize=c.quantize)
        rows, pairs = self.passes(df, scorer.tokenizer)
        res, stats = score(self.name, scorer, rows, n_rows=df.height, cache_dir=self.ctx.cache_dir,
                           batch_tokens=c.batch_tokens)  # fmt: skip
        return self.scored(df, pairs, res, stats)

    # The steps around the model passes; the Ray executor tokenizes on the driver, runs the passes
    # in an actor pool (``pipeline.executors.ray.models``) and ``scored`` on the driver.

    def passes(self, df: pl.DataFrame, tokenizer: Any) -> tuple[list[Row], Pairs]:
        """The (context, answer) token pairs to score, and the pairs that map them back to rows."""
        c = self.cfg
        pairs = encode_pairs(df, tokenizer, part=c.part, turns=c.turns, render=c.render,
                             max_answer_tokens=c.max_answer_tokens, max_tokens=c.max_tokens)  # fmt: skip
        return pairs.cond, pairs

    def scored(self, df: pl.DataFrame, pairs: Pairs, res: AnswerNLL, stats: dict[str, Any]) -> StageResult:
        """The score columns from the pairs' NLLs."""
        c = self.cfg
        nll, tok = per_row(pairs, df.height, res.nll, res.tokens)
        clipped = np.bincount(pairs.row, weights=pairs.clipped, minlength=df.height) > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            ppl = np.where(tok > 0, np.exp(nll / np.maximum(tok, 1)), np.nan)
        kept = df.with_columns(
            pl.Series(c.column, ppl, dtype=pl.Float64).fill_nan(None),
            pl.Series(f"{c.column}_tokens", tok, dtype=pl.Int64),
            pl.Series(f"{c.column}_clipped", clipped, dtype=pl.Boolean),
        )
        return StageResult(kept=kept, stats={**stats, "caps": {**c.caps(), "part": c.part}})
