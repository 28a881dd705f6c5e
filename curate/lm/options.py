"""Knobs every loss-based stage shares (model, rendering, token caps), and one scoring call that
logs its cost estimate first and reports computed vs cached pairs after."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from curate.lm.likelihood import AnswerNLL, Row
from curate.pipeline.stage import StageConfig

log = logging.getLogger(__name__)


class ScoreOptions(StageConfig):
    """Which model scores what, and how much of each row (the caps are recorded with the scores)."""

    model: str = Field("smollm2-135m", description="causal LM: packaged name, local path or cached HF id")
    render: Literal["chat", "plain"] = Field(
        "chat", description="chat: the model's chat template, as training renders; plain: raw text"
    )
    turns: Literal["last", "all"] = Field(
        "last", description="score the last assistant turn (history as context) or every assistant turn"
    )
    max_answer_tokens: int | None = Field(
        256, ge=1, description="score at most this many answer tokens per turn (its beginning)"
    )
    max_tokens: int | None = Field(
        1024, ge=2, description="context + answer cap; the context is cut from the left"
    )
    quantize: Literal["auto", "bf16", "int8"] | None = Field(
        "auto",
        description="CPU precision: auto (default: bf16 where the CPU has native bf16, else fp32), bf16 "
        "(~1.6-1.9x fp32; on 204 LawBench rows IFD and perplexity ranks Spearman 0.9998 vs fp32), "
        "int8 (dynamic: ranks change, see bench/README.md); null: fp32",
    )
    batch_tokens: int | None = Field(
        None,
        ge=1,
        description="padded tokens per forward call (memory bound); default 4096 on CPU, 65536 on a CUDA "
        "GPU (an H200 scored IFD 4x faster at 65536: bench/README.md)",
    )

    def caps(self) -> dict[str, Any]:
        return {
            "max_answer_tokens": self.max_answer_tokens,
            "max_tokens": self.max_tokens,
            "render": self.render,
            "turns": self.turns,
            "model": self.model,
        }


def estimate_line(stage: str, scorer: Any, rows: Sequence[Row], n_rows: int) -> tuple[float, str]:
    """The estimated cost of scoring ``rows`` (seconds, and the line logged before a run)."""
    sec = scorer.estimate_seconds(rows)
    tokens = sum(len(c) + len(a) for c, a in rows)
    return sec, (
        f"{stage}: {n_rows} rows, {len(rows)} passes, {tokens} tokens with {scorer.name} "
        f"-> ~{sec / 60:.1f} min on this machine (cache hits cost nothing)"
    )


def score(
    stage: str,
    scorer: Any,
    rows: Sequence[Row],
    *,
    n_rows: int,
    cache_dir: Path | None,
    batch_tokens: int | None,
) -> tuple[AnswerNLL, dict[str, Any]]:
    """Score ``rows`` through the cache, logging the estimate first; returns results and stats."""
    est, line = estimate_line(stage, scorer, rows, n_rows)
    log.info("%s", line)
    t0 = time.perf_counter()
    res = scorer.answer_nll(rows, cache_dir=cache_dir, batch_tokens=batch_tokens)
    took = time.perf_counter() - t0
    stats = {
        "passes": len(rows),
        "passes_cached": res.cached,
        "passes_computed": len(rows) - res.cached,
        "forward_tokens": res.forward_tokens,
        "estimated_seconds": round(est, 1),
        "seconds": round(took, 2),
        "model_fingerprint": scorer.fingerprint,
    }
    return res, stats
