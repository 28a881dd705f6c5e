"""Next-token log-probabilities of a few candidate tokens after each context (LM-as-judge scores).

A judge that answers "1".."5" needs one distribution per row, at the last context position, not an
answer's NLL: one decoder pass per row, and the output head at a single position (57 MFLOP for
SmolLM2, against ~212 MFLOP per context token). Batched and right-padded like ``answer_nll``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.lm.likelihood import cpu_threads, model_parts, plan_batches, torch_threads


def next_token_logprobs(
    model: Any,
    contexts: Sequence[Sequence[int]],
    candidates: Sequence[int],
    *,
    batch_tokens: int = 4096,
    threads: int | None = None,
) -> np.ndarray:
    """``(len(contexts), len(candidates))`` log-probabilities (full-vocabulary softmax, fp32)."""
    import torch

    causal, decoder, head = model_parts(model)
    device = next(causal.parameters()).device
    out = np.full((len(contexts), len(candidates)), np.nan)
    todo = [i for i, c in enumerate(contexts) if len(c)]
    lengths = [len(contexts[i]) for i in todo]
    cand = torch.tensor(list(candidates), dtype=torch.long, device=device)
    n_threads = None if device.type == "cuda" else (threads or cpu_threads())
    with torch.inference_mode(), torch_threads(n_threads):
        for b in plan_batches(lengths, batch_tokens=batch_tokens, max_rows=64):
            idx = [todo[k] for k in b]
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
