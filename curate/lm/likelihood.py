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
* rows whose contexts share a long prefix (LawBench's per-task few-shot system prompt is ~300
  tokens) run it once: its key/value cache is expanded (as views) over each batch of suffixes, so
  those tokens cost nothing after the first row (``share_prefix``);
* ``torch.inference_mode``; CPU threads chosen like training's (physical cores minus the load
  others put on them); on CUDA the model runs in whatever dtype it was loaded in (bf16 by
  ``curate.lm.scorer``), with the log-softmax always in fp32;
* a bf16 output head (``quantize: bf16`` on CPU, CUDA) runs 2.7x faster than an fp32 one; its
  two logits that decide a token's NLL, the target's and the largest, are recomputed in fp32
  (``curate.lm.head``);
* on CPU, grouped-query attention goes to SDPA as it is, also with the shared-prefix mask
  (``sdpa_gqa``), instead of transformers copying each key/value head per query head.

Where the CPU time goes (bf16, one thread, 12 LawBench rows, torch.profiler, before the bf16
head): matmuls 62 % (the fp32 head ~15 of it), SDPA's flash kernel 26 %, element-wise ops
(mul, silu, add, pow, copies) ~8 %, the head's log-sum-exp ~2 %.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate.lm.head import token_nll

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
    """Threads for CPU training and scoring: physical cores minus what other processes keep busy.

    Why not always all cores: torch's OpenMP threads meet at a barrier after every op, so when one
    of them is descheduled by another process the others wait. On 2 busy cores we measured 2
    threads at a quarter of the speed of 1 thread (13-25 vs 80 tokens/s for SmolLM2 LoRA). The load
    average includes this process itself, so only load above 1.0 is someone else's.
    """
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


@contextlib.contextmanager
def sdpa_gqa(on: bool) -> Iterator[None]:
    """Let transformers hand grouped-query attention to SDPA as it is (``enable_gqa``) even with a mask.

    Why: with a mask (the shared-prefix path) transformers first copies each key/value head once
    per query head (``repeat_kv``, SmolLM2: 3x) because CUDA's fused kernels refuse masked GQA;
    torch's CPU flash kernel takes it directly, with the same result (bit-equal here) and ~10 %
    less attention time (43 vs 50 ms a layer for 4 rows x 700 tokens, bf16, one thread).
    transformers reads ``TRANSFORMERS_SDPA_FORCE_GQA`` on every call, so it is set for the block only.
    """
    key = "TRANSFORMERS_SDPA_FORCE_GQA"
    old = os.environ.get(key)
    if on:
        os.environ[key] = "1"
    try:
        yield
    finally:
        if on:
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def plan_batches(lengths: Sequence[int], *, batch_tokens: int, max_rows: int) -> list[list[int]]:
    """Row indices grouped into batches, longest first, each at most ``batch_tokens`` padded tokens.

    Sorting by length makes neighbours nearly equal, and a batch closes before a row 10 % shorter
    than its longest joins, so padding stays under 10 % (on a CPU a larger batch buys little: a
    500-token row already fills the matmuls); the longest batch comes first so that an
    out-of-memory error shows at once, not after an hour.

    >>> plan_batches([50, 10, 40, 39, 20], batch_tokens=80, max_rows=8)
    [[0], [2, 3], [4], [1]]
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        width = lengths[cur[0]] if cur else lengths[i]
        if cur and (
            (len(cur) + 1) * width > batch_tokens or len(cur) >= max_rows or lengths[i] < width * 0.9
        ):
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


def shared_prefixes(
    rows: Sequence[Row], todo: Sequence[int], *, min_tokens: int
) -> list[tuple[int, list[int]]]:
    """Groups of rows whose contexts start with the same ``P >= min_tokens`` tokens: ``(P, rows)``.

    Rows are grouped by their first ``min_tokens`` context tokens; a group's prefix is the longest
    prefix all its contexts share, kept at least one token short of every context, so that the
    hidden state predicting the first answer token is computed with the suffix. Rows in no group
    of two or more come back as one group with ``P = 0``.

    >>> shared_prefixes([([1, 2, 3, 4], [9]), ([1, 2, 3, 5], [9]), ([7, 8], [9])], [0, 1, 2], min_tokens=2)
    [(3, [0, 1]), (0, [2])]
    """
    by_head: dict[tuple[int, ...], list[int]] = {}
    alone: list[int] = []
    for i in todo:
        ctx = rows[i][0]
        if len(ctx) > min_tokens:
            by_head.setdefault(tuple(ctx[:min_tokens]), []).append(i)
        else:
            alone.append(i)
    out: list[tuple[int, list[int]]] = []
    for members in by_head.values():
        if len(members) < 2:
            alone.extend(members)
            continue
        first = rows[members[0]][0]
        p = min(len(rows[i][0]) for i in members) - 1
        for i in members[1:]:
            ctx = rows[i][0]
            k = min_tokens
            while k < p and ctx[k] == first[k]:
                k += 1
            p = k
        out.append((p, members))
    if alone:
        out.append((0, sorted(alone)))
    return out


Work = list[tuple[int, list[list[int]]]]  # (shared prefix length, batches of row indices) per group


def plan_work(rows: Sequence[Row], *, batch_tokens: int = 4096, max_rows: int = 64,
              share_prefix: int | None = 64) -> Work:  # fmt: skip
    """``answer_nll``'s plan for ``rows``: the shared-prefix groups and each group's batches.

    A row's number depends on the batch it runs in (padding width and batch shape change the
    kernels' summation order: ~1e-8 in fp32, ~1e-6 in bf16, measured on LawBench IFD), so an
    executor that spreads the work (``pipeline.executors.ray.models``) runs these very batches to
    give the same numbers as one process.
    """
    lengths = [len(c) + len(a) for c, a in rows]
    todo = [i for i, (_, a) in enumerate(rows) if len(a) and lengths[i] >= 2]
    groups = shared_prefixes(rows, todo, min_tokens=share_prefix) if share_prefix else [(0, todo)]
    work: Work = []
    for p, members in groups:
        sizes = [lengths[i] - p for i in members]
        batches = plan_batches(sizes, batch_tokens=batch_tokens, max_rows=max_rows)
        work.append((p, [[members[k] for k in b] for b in batches]))
    return work


def answer_nll(
    model: Any,
    rows: Sequence[Row],
    *,
    batch_tokens: int = 4096,
    max_rows: int = 64,
    logit_chunk: int = 512,
    threads: int | None = None,
    share_prefix: int | None = 64,
    progress: Callable[[int], None] | None = None,
) -> AnswerNLL:
    """Summed NLL of each row's answer tokens given its context, batched (see the module docstring).

    ``rows``: ``(context_ids, answer_ids)`` pairs, already clipped (``clip``). ``batch_tokens`` bounds
    rows x padded length per decoder call (memory: ~batch_tokens x hidden x layers activations);
    ``threads``: CPU threads for this call (default ``cpu_threads()``; ignored on CUDA).
    ``share_prefix``: rows whose contexts share at least this many leading tokens (a task's
    few-shot system prompt) run that prefix once and reuse its key/value cache (``None``: off).
    ``progress(n)`` is called with the number of rows finished after each batch.
    Returns per-row ``nll`` and ``tokens`` in input order.
    """
    work = plan_work(rows, batch_tokens=batch_tokens, max_rows=max_rows, share_prefix=share_prefix)
    return run_work(model, rows, work, logit_chunk=logit_chunk, threads=threads, progress=progress)


def run_work(
    model: Any,
    rows: Sequence[Row],
    work: Work,
    *,
    logit_chunk: int = 512,
    threads: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> AnswerNLL:
    """Run ``work`` (``plan_work``'s groups of batches over ``rows``); rows in no batch get 0, 0."""
    import torch

    causal, decoder, head = model_parts(model)
    device = next(causal.parameters()).device
    cap = getattr(causal.config, "final_logit_softcapping", None)
    nll = np.zeros(len(rows), dtype=np.float64)
    count = np.zeros(len(rows), dtype=np.int64)
    fwd = n_batches = 0
    n_threads = None if device.type == "cuda" else (threads or cpu_threads())
    with torch.inference_mode(), torch_threads(n_threads), sdpa_gqa(device.type == "cpu"):
        for p, batches in work:
            cache = None
            if p and batches:
                prefix = torch.tensor([rows[batches[0][0]][0][:p]], dtype=torch.long, device=device)
                out = decoder(input_ids=prefix, use_cache=True)
                cache = getattr(out, "cache", None) or out.past_key_values
                fwd += p
            for idx in batches:
                fwd += _score_batch(decoder, head, cap, rows, idx, p, cache, nll, count, logit_chunk)
                n_batches += 1
                if progress:
                    progress(len(idx))
    return AnswerNLL(nll=nll, tokens=count, forward_tokens=fwd, batches=n_batches)


def _cache_kwarg(decoder: Any) -> str:
    """``cache`` in transformers >= 5.2x, ``past_key_values`` before (still accepted, deprecated)."""
    import inspect

    return "cache" if "cache" in inspect.signature(decoder.forward).parameters else "past_key_values"


def _expand_cache(cache: Any, b: int) -> Any:
    """A fresh cache holding the prefix's keys and values for ``b`` rows (views, no copy)."""
    from transformers import DynamicCache

    data = [(lay.keys.expand(b, -1, -1, -1), lay.values.expand(b, -1, -1, -1)) for lay in cache.layers]
    return DynamicCache(ddp_cache_data=data)


def _score_batch(
    decoder: Any,
    head: Any,
    cap: float | None,
    rows: Sequence[Row],
    idx: list[int],
    p: int,
    cache: Any,
    nll: np.ndarray,
    count: np.ndarray,
    logit_chunk: int,
) -> int:
    """Run rows ``idx`` (minus their shared first ``p`` tokens) and write their NLL sums; returns
    the tokens run. Right padding, no mask: a real token never attends to a later pad."""
    import torch

    device = next(decoder.parameters()).device
    width = max(len(rows[i][0]) + len(rows[i][1]) for i in idx) - p
    ids = torch.zeros((len(idx), width), dtype=torch.long)
    pos_rows, pos_cols, targets = [], [], []
    for r, i in enumerate(idx):
        ctx, ans = rows[i]
        seq = [*ctx, *ans]
        ids[r, : len(seq) - p] = torch.tensor(seq[p:], dtype=torch.long)
        first = max(len(ctx), 1)  # position 0 has no context to be predicted from
        cols = range(first - 1 - p, len(seq) - 1 - p)
        pos_rows.extend([r] * len(cols))
        pos_cols.extend(cols)
        targets.extend(seq[first:])
    kw: dict[str, Any] = {"use_cache": False}
    if p:
        pos = torch.arange(p, p + width, device=device)
        kw = {_cache_kwarg(decoder): _expand_cache(cache, len(idx)), "use_cache": True,
              "position_ids": pos[None].expand(len(idx), -1)}  # fmt: skip
    hidden = decoder(input_ids=ids.to(device), **kw).last_hidden_state
    h = hidden[torch.tensor(pos_rows, device=device), torch.tensor(pos_cols, device=device)]
    del hidden
    y = torch.tensor(targets, dtype=torch.long, device=device)
    tok = token_nll(head, h, y, cap=cap, chunk=logit_chunk)
    sums = torch.zeros(len(idx), dtype=torch.float64, device=device)
    sums.index_add_(0, torch.tensor(pos_rows, device=device), tok.double())
    nll[idx] = sums.cpu().numpy()
    count[idx] = np.bincount(pos_rows, minlength=len(idx))
    return ids.numel()
