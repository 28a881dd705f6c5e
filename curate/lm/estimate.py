"""What a model-scoring stage will cost, before it runs: rows x tokens -> minutes on this machine.

Used by ``curate validate`` (upper bound: every source row, before earlier stages cut any) and by
the stages themselves right before they score (exact token counts). Tokens are counted on a seeded
sample of rows rendered exactly as scoring renders them (``encode_pairs``), then scaled to the
table; FLOPs come from the model's config (``CostModel``), so no weights are loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from curate.lm.pairs import encode_pairs
from curate.lm.quant import resolve
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
    variant = resolve(getattr(cfg, "quantize", None), cuda=False)
    sec = cost.seconds(lengths, sum(len(a) for _, a in rows), precision=variant) * scale
    n_cond = max(len(pairs.cond), 1)
    return {
        "rows": df.height,
        "tokens": int(sum(lengths) * scale),
        "minutes": round(sec / 60, 1),
        "row_tokens": round(sum(len(c) + len(a) for c, a in pairs.cond) / n_cond, 1),
    }


def training_minutes(model: str, *, steps: int, batch_size: int, tokens_per_row: float) -> float:
    """A brief LoRA's cost: forward + backward ~ 3 forward passes over ``steps x batch_size`` rows."""
    from curate.models import load_config

    cost = CostModel.from_config(load_config(model))
    return round(3 * cost.seconds([int(tokens_per_row)] * steps * batch_size, 0) / 60, 1)


def _row_cap(cfg: Any, rows: float) -> float:
    """At most how many rows a stage with this config lets through (``n``/``top_n`` or a fraction,
    when not per group); ``rows`` when it does not say."""
    if getattr(cfg, "by", None) is not None:
        return rows
    for key in ("n", "top_n"):
        v = getattr(cfg, key, None)
        if isinstance(v, int) and not isinstance(v, bool):
            return min(rows, v)
    for key in ("fraction", "top_fraction"):
        v = getattr(cfg, key, None)
        if isinstance(v, float):
            return rows * v
    return rows


def run_estimates(
    stages: Sequence[tuple[str, Any, dict[str, Any]]], df: pl.DataFrame, *, seed: int = 0
) -> list[dict[str, Any]]:
    """The cost of every model-backed stage of a recipe, before the run: one dict per such stage.

    ``stages`` are ``(name, stage class, params)`` in recipe order. The rows reaching a stage are
    bounded by the input and by earlier stages that keep at most ``n``/``top_n`` rows or a fraction
    (``sample.random``, ``select.*``); filters may cut more, so this is an upper bound. Per-row cost
    is the stage's own ``estimate_cost`` on ``df`` (tokens counted on a seeded sample of real rows,
    FLOPs from the model's config over the calibrated rate, see ``CostModel``), times those rows.
    Cache hits are not subtracted (that needs the weights' fingerprint, i.e. loading the model).
    """
    out: list[dict[str, Any]] = []
    bound = float(df.height)
    for i, (name, cls, params) in enumerate(stages, start=1):
        cfg = cls.Config(**params)
        if hasattr(cls, "estimate_cost") and df.height:
            est = cls.estimate_cost(cfg, df, seed=seed)
            rows = round(min(bound, df.height))
            scale = rows / df.height
            fixed = est.get("train_minutes") or 0.0  # a brief training costs the same for any rows
            m = est.get("minutes")
            minutes = None if m is None else round((m - fixed) * scale + fixed, 1)
            rest = {k: v for k, v in est.items() if k not in ("rows", "tokens", "minutes")}
            e = {"index": i, "stage": name, "rows": rows, "tokens": int(est.get("tokens", 0) * scale),
                 "minutes": minutes, **rest}  # fmt: skip
            if est.get("requests") is not None:
                e["requests"] = round(est["requests"] * scale)
            out.append(e)
        bound = _row_cap(cfg, bound)
    return out


def estimate_line(e: dict[str, Any]) -> str:
    """One printed line per estimate: ``select.ifd: <= 40 rows, ~37,000 tokens -> ~3.6 min``."""
    head = f"{e['index']:02d} {e['stage']}: <= {e['rows']:,} rows"
    if e.get("requests") is not None:
        return f"{head}, {e['requests']:,} requests to {e.get('endpoint')} (cached answers cost nothing)"
    extra = f" (incl. ~{e['train_minutes']} min brief training)" if e.get("train_minutes") else ""
    return f"{head}, ~{e['tokens']:,} tokens -> ~{e['minutes']} min on this machine{extra}"
