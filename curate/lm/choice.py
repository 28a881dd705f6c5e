"""Next-token log-probabilities of a few candidate tokens after each context (LM-as-judge scores).

A judge that answers "1".."5" needs one distribution per row, at the last context position, not an
answer's NLL: one decoder pass per row, and the output head at a single position (57 MFLOP for
SmolLM2, against ~212 MFLOP per context token). Batched and right-padded like ``answer_nll``.

Cached in the score cache (``lm.cache``) as what each number is: the NLL of a one-token answer,
``pair_key(context, [candidate])`` -> ``(-logprob, 1)``, so a re-run computes nothing and the
entries mean the same as ``answer_nll``'s (a context is a hit only when all its candidates are).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.lm.cache import ScoreCache, pair_key
from curate.lm.likelihood import cpu_threads, model_parts, plan_batches, torch_threads


def plan_choice(contexts: Sequence[Sequence[int]], *, batch_tokens: int = 4096) -> list[list[int]]:
    """``next_token_logprobs``' batches (row indices, longest first); empty contexts are in none.

    A row's numbers depend on the batch it runs in (padding width and batch shape), so an executor
    that spreads the work (``pipeline.executors.ray.models``) runs these very batches.
    """
    todo = [i for i, c in enumerate(contexts) if len(c)]
    lengths = [len(contexts[i]) for i in todo]
    return [[todo[k] for k in b] for b in plan_batches(lengths, batch_tokens=batch_tokens, max_rows=64)]


def next_token_logprobs(
    model: Any,
    contexts: Sequence[Sequence[int]],
    candidates: Sequence[int],
    *,
    batch_tokens: int = 4096,
    threads: int | None = None,
) -> np.ndarray:
    """``(len(contexts), len(candidates))`` log-probabilities (full-vocabulary softmax, fp32)."""
    batches = plan_choice(contexts, batch_tokens=batch_tokens)
    return run_choice(model, contexts, batches, candidates, threads=threads)


def run_choice(
    model: Any,
    contexts: Sequence[Sequence[int]],
    batches: Sequence[Sequence[int]],
    candidates: Sequence[int],
    *,
    threads: int | None = None,
) -> np.ndarray:
    """Run ``batches`` (``plan_choice``'s) over ``contexts``; rows in no batch stay NaN."""
    import torch

    causal, decoder, head = model_parts(model)
    device = next(causal.parameters()).device
    out = np.full((len(contexts), len(candidates)), np.nan)
    cand = torch.tensor(list(candidates), dtype=torch.long, device=device)
    n_threads = None if device.type == "cuda" else (threads or cpu_threads())
    with torch.inference_mode(), torch_threads(n_threads):
        for idx in batches:
            idx = list(idx)
            width = max(len(contexts[i]) for i in idx)
            ids = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : len(contexts[i])] = torch.tensor(list(contexts[i]), dtype=torch.long)
            hidden = decoder(input_ids=ids.to(device), use_cache=False).last_hidden_state
            last = torch.tensor([len(contexts[i]) - 1 for i in idx], device=device)
            h = hidden[torch.arange(len(idx), device=device), last]
            logp = torch.log_softmax(head(h).float(), dim=-1)
            out[idx] = logp[:, cand].double().cpu().numpy()
    return out


def choice_keys(contexts: Sequence[Sequence[int]], candidates: Sequence[int]) -> list[bytes]:
    """The cache keys of every (context, candidate) pair, row-major (``len(candidates)`` a context)."""
    return [pair_key(c, [d]) for c in contexts for d in candidates]


def cached_rows(
    cache: ScoreCache, contexts: Sequence[Sequence[int]], candidates: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """``(logp, hit, keys)``: cached log-probabilities (NaN where missing), which contexts are hits
    (all candidates cached; an empty context never is), and the keys."""
    keys = choice_keys(contexts, candidates)
    nll, _, hit = cache.get(keys)
    k = len(candidates)
    hit = hit.reshape(len(contexts), k).all(axis=1) & np.array([len(c) > 0 for c in contexts], dtype=bool)
    logp = np.where(hit[:, None], -nll.reshape(len(contexts), k), np.nan)
    return logp, hit, keys


def store(cache: ScoreCache, keys: list[bytes], logp: np.ndarray, rows: Sequence[int]) -> None:
    """Put the computed ``rows`` of ``logp`` in the cache (``keys`` from ``choice_keys``)."""
    k = logp.shape[1]
    sel = [r * k + j for r in rows for j in range(k)]
    cache.put([keys[i] for i in sel], -logp[list(rows)].reshape(-1), np.ones(len(sel), dtype=np.int64))


def cached_next_token_logprobs(
    model: Any,
    contexts: Sequence[Sequence[int]],
    candidates: Sequence[int],
    *,
    cache: ScoreCache | None,
    batch_tokens: int = 4096,
    threads: int | None = None,
) -> tuple[np.ndarray, int]:
    """``next_token_logprobs`` computing only the contexts ``cache`` misses; also the hit count."""
    if cache is None:
        return next_token_logprobs(model, contexts, candidates, batch_tokens=batch_tokens, threads=threads), 0
    logp, hit, keys = cached_rows(cache, contexts, candidates)
    todo = [i for i in np.flatnonzero(~hit).tolist() if len(contexts[i])]
    if todo:
        got = next_token_logprobs(model, [contexts[i] for i in todo], candidates, batch_tokens=batch_tokens,
                                  threads=threads)  # fmt: skip
        logp[todo] = got
        store(cache, keys, logp, todo)
    return logp, int(hit.sum())


def passes(n: int, cached: int) -> dict[str, int]:
    """The pass counts of a judge's stats (one pass a row; cache hits cost nothing)."""
    return {"passes": n, "passes_cached": cached, "passes_computed": n - cached}
