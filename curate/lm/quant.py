"""Cheaper FLOPs for CPU scoring: the precision variants ``quantize:`` names, measured against fp32.

Each variant changes only how the decoder's matmuls run; ``answer_nll`` still takes the
log-softmax in fp32. Whether a variant keeps the ranking (Spearman of IFD and perplexity against
fp32 on real LawBench rows) and what it buys (CPU-seconds, one thread) is in bench/README.md;
the scorer's fingerprint names the variant, so cached scores of two variants never mix.

* ``int8``: ``torch.ao`` dynamic quantization of every ``nn.Linear`` (the output head included),
  weights per tensor; activations are quantized per *call* (per tensor, 7 bits on x86 fbgemm), so a
  row's score depends on which rows share its batch;
* ``int8-channel``: the same with per-output-channel weight scales (``per_channel_dynamic_qconfig``);
* ``int8-mlp``: per-channel dynamic int8 for the MLP projections only (gate, up, down: ~2/3 of the
  decoder's FLOPs); attention and the output head stay fp32;
* ``bf16``: the decoder's and the output head's weights and activations in bfloat16 (oneDNN's
  AVX-512 BF16 kernels where the CPU has them; without ``avx512_bf16``/AMX not measured, expected
  slower); the log-softmax and the target token's logit stay fp32 (``answer_nll``);
* ``auto``: ``bf16`` on a CPU with native bf16 matmuls, fp32 elsewhere (``resolve``).

Only ``int8`` and ``bf16`` (and ``auto``) are recipe options; ``int8-channel`` and ``int8-mlp`` are
kept here for the benchmark that rejected them (Spearman 0.54 and 0.58 against fp32 IFD).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

Quantize = Literal["auto", "int8", "bf16"]
VARIANTS: tuple[str, ...] = ("int8", "int8-channel", "int8-mlp", "bf16")
MLP_NAMES = ("gate_proj", "up_proj", "down_proj")
# what a variant computes, for the score cache's key: bump when a variant's numbers change
# (bf16 "head-bf16": the output head in bf16 too, since 2026-12-03; before, an fp32 head)
CACHE_TAG = {"bf16": "bf16-head-bf16"}


def _mlp_linears(model: Any) -> set[str]:
    """Names of the MLP projections (Llama/Qwen/Mistral naming) inside ``model``."""
    return {name for name, _ in model.named_modules() if name.rsplit(".", 1)[-1] in MLP_NAMES}


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX-512 BF16 or AMX): only then is ``bf16`` faster."""
    import torch

    cpu = getattr(torch, "cpu", None)
    try:
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def resolve(quantize: str | None, *, cuda: bool) -> str | None:
    """The variant ``quantize`` means here: ``auto`` is ``bf16`` on a CPU with native bf16, else
    ``None`` (fp32); on CUDA the scorer is bf16 already and nothing is applied."""
    if cuda:
        return None
    if quantize == "auto":
        return "bf16" if native_bf16() else None
    if quantize is not None and quantize not in VARIANTS:
        raise ValueError(f"unknown quantize {quantize!r} (valid: auto, {', '.join(VARIANTS)})")
    return quantize


def apply_variant(model: Any, variant: str) -> Any:
    """``model`` (fp32, CPU, eval) converted to ``variant``; returns the model to score with.

    Every variant returns a new module tree and leaves ``model`` as it was (the hub may hand the
    same fp32 model to training or to another scorer): ``torch.ao`` swaps ``nn.Linear`` for its
    dynamic quantized twin in a copy; ``bf16`` casts a copy's decoder and output head (tied to the
    embedding in SmolLM2) and keeps the rotary frequencies fp32. The head in bf16 runs 2.7x faster
    than in fp32 (0.18 vs 0.49 CPU-s for 512 tokens x 49k vocabulary, one thread), 17 % of the
    whole bf16 scorer's CPU time on LawBench; ``answer_nll`` takes the log-softmax in fp32 and
    recomputes the target token's logit in fp32, so only the bf16 rounding of the other logits is
    left (ranks on 204 rows: bench/README.md).
    """
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    if variant == "int8":
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    if variant == "int8-channel":
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
    if variant == "int8-mlp":
        spec = {name: per_channel_dynamic_qconfig for name in _mlp_linears(model)}
        if not spec:
            raise ValueError("int8-mlp: no gate_proj/up_proj/down_proj modules in this model")
        return quantize_dynamic(model, spec, dtype=torch.qint8)
    if variant == "bf16":
        fp32_buffers = dict(model.named_buffers())
        model = copy.deepcopy(model)
        causal = model.get_base_model() if hasattr(model, "get_base_model") else model
        head = causal.get_output_embeddings()
        decoder = causal.get_decoder()
        decoder.to(torch.bfloat16)
        for name, buf in list(model.named_buffers()):  # rotary inv_freq: positions stay exact in fp32
            if buf.dtype == torch.bfloat16 and fp32_buffers[name].dtype == torch.float32:
                mod, _, attr = name.rpartition(".")
                setattr(model.get_submodule(mod), attr, fp32_buffers[name].clone())
        if head is not None:  # tied to the embedding in SmolLM2: already bf16 then
            head.to(torch.bfloat16)
        return model
    raise ValueError(f"unknown quantize {variant!r} (valid: {', '.join(VARIANTS)})")
