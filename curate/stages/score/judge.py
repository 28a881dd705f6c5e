"""``score.judge``: a rubric answered by a local LM or an OpenAI-compatible endpoint, read as an
expectation over the score tokens."""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.chat import ChatRenderer
from curate.errors import StageError
from curate.lm.choice import cached_next_token_logprobs, passes
from curate.lm.http import Endpoint
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
    Cost: one forward pass over the rubric + row per row, the output head at one position; the
    probabilities are cached (``lm.choice``: the score cache, by model and tokens), so a re-run
    computes nothing.

    ``endpoint: {base_url, model, api_key_env, ...}`` asks an OpenAI-compatible server instead
    (``curate serve`` for a local model or a run's adapter; vLLM, llama.cpp, OpenAI): the same
    rubric as one user message, greedy, ``logprobs`` with the top 20 alternatives. With ``prefill``
    (vLLM's ``continue_final_message``, which curate serve speaks) the answer continues
    "Rating: ", exactly the local judge's context, and the expectation is read at its first token;
    without it, at the first generated position where a digit is among the alternatives. An
    endpoint that returns no logprobs is read from its text (the first digit 1-5: mass 1, else 0).
    Answers are cached by (endpoint, request), so a re-run sends nothing; requests, retries and
    tokens go into the stage stats (the manifest).
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
        endpoint: Endpoint | None = Field(
            None, description="ask this OpenAI-compatible endpoint instead of the local model"
        )
        prefill: bool = Field(
            True, description="endpoint: continue an assistant 'Rating: ' (continue_final_message)"
        )
        max_prompt_chars: int = Field(
            12000, ge=100, description="endpoint: rubric + row character cap (the middle is cut)"
        )

    cfg: Config

    @classmethod
    def estimate_cost(cls, cfg: Config, df: pl.DataFrame, *, seed: int = 0) -> dict[str, Any]:
        """Rows and minutes (local: one pass over rubric + row, the head at one position), or the
        number of requests an endpoint would get (its speed is not known here)."""
        if cfg.endpoint is not None:
            return {"rows": df.height, "requests": df.height, "endpoint": cfg.endpoint.base_url,
                    "minutes": None, "tokens": 0}  # fmt: skip
        from curate.lm.estimate import SAMPLE_ROWS
        from curate.lm.scorer import CostModel
        from curate.models import load_config, load_tokenizer

        sample = df.sample(min(SAMPLE_ROWS, df.height), seed=seed) if df.height else df
        lengths = [len(c) for c in cls(cfg)._contexts(sample, load_tokenizer(cfg.model))]
        scale = df.height / max(sample.height, 1)
        sec = CostModel.from_config(load_config(cfg.model)).seconds(lengths, len(lengths)) * scale
        return {"rows": df.height, "tokens": int(sum(lengths) * scale), "minutes": round(sec / 60, 1)}

    def _prompts(self, df: pl.DataFrame) -> list[str]:
        """The rubric filled with each row's user turns and its last assistant answer."""
        template = RUBRICS[self.cfg.rubric]
        out = []
        for rec in df.select("messages").iter_rows(named=True):
            msgs = rec["messages"] or []
            last_a = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
            asked = "\n".join(m["content"] or "" for m in msgs[: last_a or len(msgs)] if m["role"] == "user")
            answer = msgs[last_a]["content"] if last_a is not None else ""
            out.append(template.format(instruction=asked, response=answer))
        return out

    def _contexts(self, df: pl.DataFrame, tok: Any) -> list[list[int]]:
        r = ChatRenderer(tok)
        texts = [r.render([{"role": "user", "content": p}], prompt=True) + PREFILL for p in self._prompts(df)]
        ids = tok(texts, add_special_tokens=False)["input_ids"]
        cap, head = self.cfg.max_tokens, self.cfg.max_tokens // 4
        return [x if len(x) <= cap else x[:head] + x[len(x) - (cap - head) :] for x in ids]

    def _local(self, df: pl.DataFrame) -> tuple[np.ndarray, dict[str, Any]]:
        """Probabilities of "1".."5" after each row's context, from the local model."""
        from curate.lm.cache import ScoreCache

        scorer = self.ctx.models.scorer(self.cfg.model)
        contexts, digits = self.choices(df, scorer.tokenizer)
        cache = ScoreCache(self.ctx.cache_dir, scorer.fingerprint) if self.ctx.cache_dir else None
        logp, hits = cached_next_token_logprobs(scorer.model, contexts, digits, cache=cache)
        return np.exp(logp), {"model": self.cfg.model, **passes(len(contexts), hits)}

    # The two steps around the model pass; the Ray executor tokenizes on the driver and runs the
    # pass in an actor pool (``pipeline.executors.ray.models``), then ``judged`` on the driver.

    def choices(self, df: pl.DataFrame, tok: Any) -> tuple[list[list[int]], list[int]]:
        """Each row's rubric context (token ids) and the token ids of the digits "1".."5"."""
        digits = [tok(str(d), add_special_tokens=False)["input_ids"] for d in range(1, 6)]
        if any(len(d) != 1 for d in digits):
            raise StageError("the digits 1-5 are not single tokens for this tokenizer", stage=self.name)
        return self._contexts(df, tok), [d[0] for d in digits]

    def _remote(self, df: pl.DataFrame) -> tuple[np.ndarray, dict[str, Any]]:
        """Probabilities of "1".."5" read from the endpoint's answers (see the class docstring)."""
        from curate.lm.http import ChatClient, EndpointError

        ep = self.cfg.endpoint
        assert ep is not None
        cap = self.cfg.max_prompt_chars
        head = cap // 4
        bodies = []
        for p in self._prompts(df):
            p = p if len(p) <= cap else p[:head] + p[len(p) - (cap - head) :]
            msgs = [{"role": "user", "content": p}]
            body: dict[str, Any] = {"temperature": 0, "logprobs": True, "top_logprobs": 20}
            if self.cfg.prefill:
                msgs.append({"role": "assistant", "content": PREFILL})
                body |= {"continue_final_message": True, "add_generation_prompt": False, "max_tokens": 1}
            else:
                body["max_tokens"] = 8
            bodies.append({"messages": msgs, **body})
        try:
            client = ChatClient(ep, cache_dir=self.ctx.cache_dir)
            answers = client.complete_many(bodies)
        except EndpointError as e:
            raise StageError(e.message, stage=self.name, hint=e.hint) from None
        p = np.array([read_rating(a) for a in answers], dtype=np.float64).reshape(len(bodies), 5)
        return p, {"endpoint": ep.base_url, "model": ep.model, "usage": client.usage.as_dict()}

    def apply(self, df: pl.DataFrame) -> StageResult:
        """Memory: the table, the model (or none, with an endpoint), and every row's rubric prompt
        as text until scored (about the row's size again); the scores are two columns."""
        p, source = self._remote(df) if self.cfg.endpoint is not None else self._local(df)
        return self.judged(df, p, source)

    def judged(self, df: pl.DataFrame, p: np.ndarray, source: dict[str, Any]) -> StageResult:
        """The score columns from each row's probabilities of "1".."5", then the unparsable rows out."""
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
        stats = {"rubric": self.cfg.rubric, **source,
                 "mean_mass": float(np.nanmean(mass)) if len(mass) else None,
                 "mean_score": float(np.nanmean(expect)) if np.isfinite(expect).any() else None}  # fmt: skip
        return StageResult(kept=scored.filter(~bad), removed=removed, stats=stats)


PREFILL = "Rating: "
DIGITS = [str(d) for d in range(1, 6)]


def read_rating(answer: dict[str, Any]) -> list[float]:
    """Probabilities of the ratings 1..5 in one chat-completions answer.

    With logprobs: at the first generated position whose token or top alternatives is a digit 1-5
    (stripped of spaces), each digit's probability (a digit outside the top alternatives counts 0).
    Without: the first digit 1-5 in the text gets probability 1; no digit, all 0 (unparsable).
    """
    choice = (answer.get("choices") or [{}])[0]
    content = ((choice.get("logprobs") or {}).get("content")) or []
    for pos in content:
        alts = [*(pos.get("top_logprobs") or []), pos]
        p = [0.0] * 5
        seen: set[str] = set()
        for a in alts:
            t = str(a.get("token", "")).strip()
            if t in DIGITS and a["token"] not in seen:
                seen.add(a["token"])
                p[int(t) - 1] += float(np.exp(a["logprob"]))
        if any(p):
            return p
    if content:
        return [0.0] * 5
    text = (choice.get("message") or {}).get("content") or ""
    m = re.search(r"[1-5]", text)
    return [1.0 if m and int(m.group()) == d else 0.0 for d in range(1, 6)]
