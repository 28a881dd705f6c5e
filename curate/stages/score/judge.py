"""``score.judge``: a rubric answered by a local LM, read as an expectation over the score tokens."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.chat import ChatRenderer
from curate.errors import StageError
from curate.lm.choice import next_token_logprobs
from curate.pipeline.registry import register
from curate.pipeline.stage import GlobalStage, StageConfig, StageResult, mark_removed

RUBRICS = {
    # AlpaGasus (Chen et al. 2023): accuracy/helpfulness of the response, 1-5
    "quality": (
        "Rate the response to the instruction below for accuracy and helpfulness on a scale of 1 to 5 "
        "(1: wrong or useless, 5: correct, complete and helpful). Reply with the number only.\n\n"
        "Instruction:\n{instruction}\n\nResponse:\n{response}"
    ),
    # Deita (Liu et al. 2023): the instruction's complexity, 1-5
    "complexity": (
        "Rate how complex and demanding the following instruction is on a scale of 1 to 5 "
        "(1: trivial, 5: requires expert multi-step reasoning). Reply with the number only.\n\n"
        "Instruction:\n{instruction}"
    ),
}


@register("score.judge")
class Judge(GlobalStage):
    """Write ``score_judge``: the rubric's 1-5 score from a local LM, with no sampling.

    The rubric (AlpaGasus' quality rating, or Deita's complexity) is rendered with the model's chat
    template, the assistant turn is prefilled with ``Rating: ``, and the score is the expectation of
    the digit under the model's next-token distribution restricted to "1".."5" (Deita's reading):
    deterministic, no parsing, and finer than a sampled integer. ``score_judge_mass`` is the
    probability the model put on the digits at all; below ``min_mass`` its answer is not a rating
    and the row is removed with reason ``judge_unparsable`` (value: the mass), never dropped silently.
    Cost: one forward pass over the rubric + row per row, the output head at one position.
    An OpenAI-compatible HTTP judge is not built yet.
    """

    class Config(StageConfig):
        model: str = Field("smollm2-135m", description="local causal LM with a chat template")
        rubric: Literal["quality", "complexity"] = Field("quality", description="which rubric to ask")
        min_mass: float = Field(
            0.05, ge=0, le=1, description="least probability on the digits to count as a rating"
        )
        max_tokens: int = Field(
            1024, ge=16, description="rubric + row token cap (the middle is cut: rubric and rating kept)"
        )
        column: str = Field("score_judge", description="output column")

    cfg: Config

    def _contexts(self, df: pl.DataFrame, tok: Any) -> list[list[int]]:
        r = ChatRenderer(tok)
        template = RUBRICS[self.cfg.rubric]
        texts = []
        for rec in df.select("system", "messages").iter_rows(named=True):
            msgs = rec["messages"] or []
            last_a = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
            asked = "\n".join(m["content"] or "" for m in msgs[: last_a or len(msgs)] if m["role"] == "user")
            answer = msgs[last_a]["content"] if last_a is not None else ""
            prompt = template.format(instruction=asked, response=answer)
            texts.append(r.render([{"role": "user", "content": prompt}], prompt=True) + "Rating: ")
        ids = tok(texts, add_special_tokens=False)["input_ids"]
        cap, head = self.cfg.max_tokens, self.cfg.max_tokens // 4
        return [x if len(x) <= cap else x[:head] + x[len(x) - (cap - head) :] for x in ids]

    def apply(self, df: pl.DataFrame) -> StageResult:
        scorer = self.ctx.models.scorer(self.cfg.model)
        tok = scorer.tokenizer
        digits = [tok(str(d), add_special_tokens=False)["input_ids"] for d in range(1, 6)]
        if any(len(d) != 1 for d in digits):
            raise StageError("the digits 1-5 are not single tokens for this tokenizer", stage=self.name)
        logp = next_token_logprobs(scorer.model, self._contexts(df, tok), [d[0] for d in digits])
        p = np.exp(logp)
        mass = p.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            expect = (p * np.arange(1, 6)).sum(axis=1) / mass
        col = self.cfg.column
        scored = df.with_columns(
            pl.Series(col, expect, dtype=pl.Float64).fill_nan(None),
            pl.Series(f"{col}_mass", mass, dtype=pl.Float64).fill_nan(None),
        )
        bad = pl.col(f"{col}_mass").fill_null(0) < self.cfg.min_mass
        removed = mark_removed(scored.filter(bad), stage=self.name, reason="judge_unparsable",
                               value=pl.col(f"{col}_mass"), threshold=self.cfg.min_mass)  # fmt: skip
        stats = {"rubric": self.cfg.rubric, "mean_mass": float(np.nanmean(mass)) if len(mass) else None,
                 "mean_score": float(np.nanmean(expect)) if len(expect) else None}  # fmt: skip
        return StageResult(kept=scored.filter(~bad), removed=removed, stats=stats)
