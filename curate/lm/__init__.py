"""Answer likelihood under a causal LM: the one implementation curate scores with.

API (importable by stages, training and eval; imports only torch, numpy, polars, xxhash)::

    from curate.lm import answer_nll, clip

    rows = [clip(ctx_ids, ans_ids, max_answer=256, max_total=1024) for ctx_ids, ans_ids in pairs]
    res = answer_nll(model, rows)          # batched, length-bucketed, logits at answer tokens only
    res.nll      # float64 [n]: summed -log p(answer token | everything before it), nats
    res.tokens   # int64   [n]: answer tokens scored (the first is skipped only if the context is empty)
    res.mean     # nll / tokens (NaN where nothing was scored); res.perplexity = exp(mean)

``model`` is any transformers causal LM (peft-wrapped too) on any device; rows are plain token id
lists, so the caller renders and tokenizes (the chat renderer does it for chat rows). Scoring
multiple-choice options = one row per (question, option) pair; compare ``nll`` (or ``mean`` to
normalise by length).

With a cache: ``ScoreCache(cache_dir, model_fingerprint(model))`` and ``cached_answer_nll`` compute
only pairs not seen before; ``LMScorer`` (``curate.lm.scorer``, what ``ModelHub.scorer`` returns)
bundles model, tokenizer, fingerprint, cache and a cost estimate.
"""

from curate.lm.cache import ScoreCache, cached_answer_nll, model_fingerprint, pair_key
from curate.lm.likelihood import AnswerNLL, Row, answer_nll, clip, cpu_threads, plan_batches
from curate.lm.scorer import CostModel, LMScorer, make_scorer

__all__ = [
    "AnswerNLL",
    "CostModel",
    "LMScorer",
    "Row",
    "ScoreCache",
    "answer_nll",
    "cached_answer_nll",
    "clip",
    "cpu_threads",
    "make_scorer",
    "model_fingerprint",
    "pair_key",
    "plan_batches",
]
