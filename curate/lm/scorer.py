"""A loaded causal LM ready to score: model + tokenizer + weight fingerprint + cost model.

``load_scorer`` is what ``ModelHub.scorer`` returns (the ``Scorer`` protocol in ``curate.models``):
the model in eval mode on the best device (bf16 on CUDA, fp32 on CPU), optionally with its linear
layers dynamically quantized to int8 on CPU (``quantize="int8"``; see bench/README.md for whether
it keeps rankings), and ``answer_nll`` going through the score cache.

The cost model is FLOPs over a measured rate: the decoder costs ``2 x non-embedding params`` per
forward token plus ``2 x layers x hidden x T`` for causal attention at length ``T``; the head costs
``2 x hidden x vocab`` per scored token only (it runs at answer positions alone). SmolLM2-135M in
fp32 on this machine's AVX2 cores sustains ~45 GFLOPS per thread (336 tokens/s on 2 threads for the
one-row full-logits loop, DATA.md), so that is the default rate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.lm.cache import ScoreCache, cached_answer_nll, model_fingerprint
from curate.lm.likelihood import AnswerNLL, Row, cpu_threads
from curate.lm.quant import CACHE_TAG, apply_variant, resolve

log = logging.getLogger(__name__)

CPU_GFLOPS_PER_THREAD = 45.0
# SmolLM2-135M IFD in bf16 on an H200 at 65536 batch tokens: 57k forward tokens/s, ~20 TFLOPS used
# (a 135M model cannot fill the GPU; bench/score_gpu.py)
CUDA_GFLOPS = 20_000.0
CPU_BATCH_TOKENS = 4096  # padded tokens per forward call: past this, CPU throughput stays flat
CUDA_BATCH_TOKENS = 65536  # H200, IFD: 46 rows/s at 4096, 103 at 16384, 183 at 65536
# CPU-seconds of fp32 over the variant's, same rows, one thread (bench/README.md, LawBench)
PRECISION_SPEEDUP = {"bf16": 1.8, "int8": 2.3}  # bf16 (head bf16 too): 1.76 on 204 rows


@dataclass(frozen=True)
class CostModel:
    """FLOPs per token of a causal LM, from its config alone (no weights needed)."""

    decoder_params: int
    layers: int
    hidden: int
    vocab: int

    @classmethod
    def from_config(cls, cfg: Any) -> CostModel:
        hidden = int(cfg.hidden_size)
        layers = int(cfg.num_hidden_layers)
        vocab = int(cfg.vocab_size)
        inter = int(getattr(cfg, "intermediate_size", 4 * hidden))
        heads = int(getattr(cfg, "num_attention_heads", 1))
        kv = int(getattr(cfg, "num_key_value_heads", heads) or heads)
        head_dim = int(getattr(cfg, "head_dim", None) or hidden // heads)
        attn = hidden * head_dim * (2 * heads + 2 * kv)
        mlp = 3 * hidden * inter
        return cls(layers * (attn + mlp), layers, hidden, vocab)

    def flops(self, lengths: Sequence[int], scored: int) -> float:
        """FLOPs to run sequences of ``lengths`` and score ``scored`` answer tokens."""
        fwd = sum(lengths)
        attn = sum(2 * self.layers * self.hidden * t * t for t in lengths)
        return 2.0 * self.decoder_params * fwd + attn + 2.0 * self.hidden * self.vocab * scored

    def seconds(
        self,
        lengths: Sequence[int],
        scored: int,
        *,
        threads: int | None = None,
        cuda: bool = False,
        precision: str | None = None,
    ) -> float:
        """Predicted seconds; ``precision`` (a ``curate.lm.quant`` variant) scales the CPU rate by
        its measured speed-up over fp32 (``PRECISION_SPEEDUP``)."""
        rate = CUDA_GFLOPS if cuda else CPU_GFLOPS_PER_THREAD * (threads or cpu_threads())
        if not cuda:
            rate *= PRECISION_SPEEDUP.get(precision or "", 1.0)
        return self.flops(lengths, scored) / (rate * 1e9)


@dataclass
class LMScorer:
    """A causal LM, its tokenizer and its fingerprint; scores through the cache."""

    name: str
    model: Any
    tokenizer: Any
    fingerprint: str
    cost: CostModel
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        return next(self.model.parameters()).device.type == "cuda"

    def answer_nll(self, rows: Sequence[Row], *, cache_dir: Path | None = None, **kw: Any) -> AnswerNLL:
        """Summed answer NLL per row (``curate.lm.answer_nll``), computing only cache misses."""
        cache = ScoreCache(cache_dir, self.fingerprint) if cache_dir else None
        if kw.get("batch_tokens") is None:
            kw["batch_tokens"] = CUDA_BATCH_TOKENS if self.cuda else CPU_BATCH_TOKENS
        return cached_answer_nll(self.model, rows, cache=cache, **kw)

    def estimate_seconds(self, rows: Sequence[Row]) -> float:
        """Predicted wall time to score ``rows`` on this machine (no cache hits assumed)."""
        lengths = [len(c) + len(a) for c, a in rows]
        scored = sum(len(a) for _, a in rows)
        return self.cost.seconds(lengths, scored, cuda=self.cuda, precision=self.info.get("quantize"))


def make_scorer(
    name: str, model: Any, tokenizer: Any, *, quantize: str | None = None, device: str = "auto"
) -> LMScorer:
    """Wrap a loaded model: eval mode, device and dtype chosen, fingerprinted, optionally a cheaper
    precision on CPU (``curate.lm.quant``: ``auto`` = bf16 where the CPU has native bf16)."""
    import torch

    cuda = torch.cuda.is_available() and device != "cpu"
    model.eval()
    if cuda:
        model = model.to("cuda", dtype=torch.bfloat16)
    variant = resolve(quantize, cuda=cuda)
    tag = CACHE_TAG.get(variant or "", variant or "")
    fp = model_fingerprint(model, extra=f"{tag}|{'cuda-bf16' if cuda else 'cpu'}")
    if variant:
        model = apply_variant(model, variant)
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    return LMScorer(
        name,
        model,
        tokenizer,
        fp,
        CostModel.from_config(causal.config),
        info={"quantize": variant, "device": "cuda" if cuda else "cpu"},
    )
