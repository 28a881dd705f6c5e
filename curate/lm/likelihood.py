"""The one batched answer-likelihood core: sum NLL of answer tokens given a context.

``answer_nll(model, rows)`` takes a causal LM and rows of ``(context_ids, answer_ids)`` and returns,
per row, the summed negative log-likelihood (nats) of the answer tokens and how many were scored.
Every loss-based score in curate is this one function: perplexity, IFD (two calls: with and without
the instruction), uncertainty (perturbed contexts), multiple-choice options in eval.

Definition (what the tests check against a one-row, full-logits transformers loop to 1e-4):
the sequence is ``context + answer``; answer token ``j`` at position ``p = len(context) + j`` is
scored with ``-log softmax(logits[p - 1])[token]``. With an empty context the first answer token has
nothing to be predicted from and is not scored (``tokens`` says so).

Why it is fast on a CPU (measured in bench/README.md):

* rows are sorted by length and cut into batches of at most ``batch_tokens`` padded tokens, so
  padding is a few percent (length bucketing);
* padding goes on the right and no attention mask is passed: under a causal mask a real token never
  attends to a later position, so right padding cannot change its hidden state, and attention runs
  on the dense ``is_causal`` path instead of materialising a (B, 1, T, T) mask;
* the decoder's hidden states are gathered at the answer positions *before* the output head: with
  SmolLM2's 49,152-entry vocabulary the head is 57 MFLOP per token against the decoder's ~212, so
  skipping it at prompt positions saves up to a fifth of the FLOPs, and logits never exist for the
  whole batch (the head runs over ``logit_chunk`` gathered rows at a time);
* ``torch.inference_mode``; CPU threads chosen like training's (physical cores minus the load
  others put on them); on CUDA the model runs in whatever dtype it was loaded in (bf16 by
  ``curate.lm.scorer``), with the log-softmax always in fp32.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Row = tuple[Sequence[int], Sequence[int]]


@dataclass
class AnswerNLL:
    """Per-row results of ``answer_nll``: ``nll`` (float64, summed nats) and ``tokens`` (int64).

    ``forward_tokens`` counts the tokens run through the decoder (padding included), ``batches`` the
    decoder calls: the bench and the cost estimate read them.
    """

    nll: np.ndarray
    tokens: np.ndarray
    forward_tokens: int = 0
    batches: int = 0
    cached: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> np.ndarray:
        """Mean NLL per scored token (NaN where no token was scored)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.tokens > 0, self.nll / np.maximum(self.tokens, 1), np.nan)

    @property
    def perplexity(self) -> np.ndarray:
        return np.exp(self.mean)


def clip(
    context: Sequence[int], answer: Sequence[int], *, max_answer: int | None, max_total: int | None
) -> Row:
    """Cut a pair to the scoring caps: the answer keeps its first ``max_answer`` tokens, then the
    context loses tokens from the left until ``context + answer`` fits ``max_total``.

    Why this way round: the answer is what is scored, so its beginning (the part conditioned on the
    instruction) is kept; the context's end (the instruction right before the answer) matters most.

    >>> clip([1, 2, 3, 4], [5, 6, 7], max_answer=2, max_total=4)
    ([3, 4], [5, 6])
    """
    a = list(answer[:max_answer]) if max_answer else list(answer)
    c = list(context)
    if max_total:
        room = max(0, max_total - len(a))
        c = c[len(c) - room :] if room < len(c) else c
    return c, a


def physical_cores() -> int:
    """Physical cores this process may use: hyperthread siblings share one core's matmul units."""
    avail = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        siblings = int(text.split("siblings")[1].split(":")[1].split()[0])
        cores = int(text.split("cpu cores")[1].split(":")[1].split()[0])
        per_core = max(1, siblings // max(cores, 1))
    except (OSError, IndexError, ValueError):
        per_core = 1
    return max(1, avail // per_core)


def cpu_threads() -> int:
    """Threads for CPU scoring, chosen as training chooses them (``curate.train.optim.cpu_threads``):
    physical cores minus what other processes keep busy (1-minute load average above 1.0), because
    torch's OpenMP threads wait for each other at every op and one descheduled thread stalls all."""
    cores = physical_cores()
    try:
        others = max(0.0, os.getloadavg()[0] - 1.0)
    except OSError:
        return cores
    return max(1, min(cores, round(cores - others)))


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Set torch's intra-op threads for the block and restore them after (``None``: leave as is)."""
    import torch

    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def plan_batches(lengths: Sequence[int], *, batch_tokens: int, max_rows: int) -> list[list[int]]:
    """Row indices grouped into batches, longest first, each at most ``batch_tokens`` padded tokens.

    Sorting by length makes neighbours nearly equal, so the padding a batch carries is small; the
    longest batch comes first so that an out-of-memory error shows at once, not after an hour.

    >>> plan_batches([5, 1, 4, 2], batch_tokens=8, max_rows=8)
    [[0], [2, 3], [1]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        width = lengths[cur[0]] if cur else lengths[i]
        if cur and ((len(cur) + 1) * width > batch_tokens or len(cur) >= max_rows):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def model_parts(model: Any) -> tuple[Any, Any, Any]:
    """(causal LM, its decoder, its output head) under any peft wrapping."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    return causal, causal.get_decoder(), causal.get_output_embeddings()


def answer_nll(
    model: Any,
    rows: Sequence[Row],
    *,
    batch_tokens: int = 4096,
    max_rows: int = 64,
    logit_chunk: int = 512,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> AnswerNLL:
    """Summed NLL of each row's answer tokens given its context, batched (see the module docstring).

    ``rows``: ``(context_ids, answer_ids)`` pairs, already clipped (``clip``). ``batch_tokens`` bounds
    rows x padded length per decoder call (memory: ~batch_tokens x hidden x layers activations);
    ``threads``: CPU threads for this call (default ``cpu_threads()``; ignored on CUDA).
    ``progress(n)`` is called with the number of rows finished after each batch.
    Returns per-row ``nll`` and ``tokens`` in input order.
    """
    import torch

    causal, decoder, head = model_parts(model)
    device = next(causal.parameters()).device
    cap = getattr(causal.config, "final_logit_softcapping", None)
    nll = np.zeros(len(rows), dtype=np.float64)
    count = np.zeros(len(rows), dtype=np.int64)
    lengths = [len(c) + len(a) for c, a in rows]
    todo = [i for i, (_, a) in enumerate(rows) if len(a) and lengths[i] >= 2]
    batches = plan_batches([lengths[i] for i in todo], batch_tokens=batch_tokens, max_rows=max_rows)
    fwd = 0
    n_threads = None if device.type == "cuda" else (threads or cpu_threads())
    with torch.inference_mode(), torch_threads(n_threads):
        for b in batches:
            idx = [todo[k] for k in b]
            width = max(lengths[i] for i in idx)
            ids = torch.zeros((len(idx), width), dtype=torch.long)
            pos_rows, pos_cols, targets = [], [], []
            for r, i in enumerate(idx):
                ctx, ans = rows[i]
                seq = [*ctx, *ans]
                ids[r, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                first = max(len(ctx), 1)  # position 0 has no context to be predicted from
                cols = range(first - 1, len(seq) - 1)
                pos_rows.extend([r] * len(cols))
                pos_cols.extend(cols)
                targets.extend(seq[first:])
            hidden = decoder(input_ids=ids.to(device), use_cache=False).last_hidden_state
            fwd += ids.numel()
            h = hidden[torch.tensor(pos_rows, device=device), torch.tensor(pos_cols, device=device)]
            del hidden
            y = torch.tensor(targets, dtype=torch.long, device=device)
            tok = torch.empty(len(targets), dtype=torch.float32, device=device)
            for s in range(0, h.shape[0], logit_chunk):
                logits = head(h[s : s + logit_chunk]).float()
                if cap:
                    logits = cap * torch.tanh(logits / cap)
                lse = torch.logsumexp(logits, dim=-1)
                tok[s : s + logit_chunk] = lse - logits.gather(1, y[s : s + logit_chunk, None])[:, 0]
            owner = torch.tensor(pos_rows, device=device)
            sums = torch.zeros(len(idx), dtype=torch.float64, device=device)
            sums.index_add_(0, owner, tok.double())
            nll[idx] = sums.cpu().numpy()
            count[idx] = np.bincount(pos_rows, minlength=len(idx))
            if progress:
                progress(len(idx))
    return AnswerNLL(nll=nll, tokens=count, forward_tokens=fwd, batches=len(batches))
