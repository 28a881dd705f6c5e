"""What a model-scoring stage will cost, before it runs: rows x tokens -> minutes on this machine.

Used by ``curate validate`` (upper bound: every source row, before earlier stages cut any) and by
the stages themselves right before they score (exact token counts). Tokens are counted on a seeded
sample of rows rendered exactly as scoring renders them (``encode_pairs``), then scaled to the
table; FLOPs come from the model's config (``CostModel``), so no weights are loaded.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from curate.lm.pairs import encode_pairs
from curate.lm.scorer import CostModel

SAMPLE_ROWS = 200


def estimate_pairs(
    df: pl.DataFrame, cfg: Any, *, passes: float, part: str = "answer", seed: int = 0
) -> dict[str, Any]:
    """Estimated work for a ``ScoreOptions`` stage over ``df`` making ``passes`` passes per pair.

    ``passes``: 1 for perplexity, 2 for IFD (the second over the answer alone is shorter; counted
    exactly), k + 1 for uncertainty, about 1 for a local judge.
    """
    from curate.models import load_config, load_tokenizer

    sample = df.sample(min(SAMPLE_ROWS, df.height), seed=seed) if df.height else df
    tok = load_tokenizer(cfg.model)
    pairs = encode_pairs(
        sample,
        tok,
        part=part,
        turns=cfg.turns,
        render=cfg.render,
        max_answer_tokens=cfg.max_answer_tokens,
        max_tokens=cfg.max_tokens,
    )
    scale = df.height / max(sample.height, 1)
    rows = list(pairs.cond) * int(passes) if passes != 2 else [*pairs.cond, *pairs.alone]
    cost = CostModel.from_config(load_config(cfg.model))
    lengths = [len(c) + len(a) for c, a in rows]
    sec = cost.seconds(lengths, sum(len(a) for _, a in rows)) * scale
    return {
        "rows": df.height,
        "tokens": int(sum(lengths) * scale),
        "minutes": round(sec / 60, 1),
    }


def recipe_estimates(recipe: Any, table: pl.DataFrame) -> list[tuple[str, dict[str, Any]]]:
    """(stage name, estimate) for every stage of ``recipe`` that can estimate itself."""
    from curate.pipeline import registry

    out = []
    for spec in recipe.stages:
        cls = registry.get(spec.name)
        fn = getattr(cls, "estimate_cost", None)
        if fn is not None:
            out.append((spec.name, fn(cls.Config(**spec.params), table, seed=recipe.seed)))
    return out
