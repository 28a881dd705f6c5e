"""The loss, computed only where it counts.

SmolLM2's vocabulary has 49,152 entries, so full logits for 8 x 512 tokens take 800 MB in fp32, and
their softmax and gradient as much again: that is where a stock trainer's memory goes. Here the
decoder's hidden states are gathered at the trained positions first, and the output head plus
cross-entropy run over chunks of those rows. The gradient of each chunk is computed on the spot
(softmax minus one-hot, times the head weight), so no logits are kept for backward: peak extra
memory is one chunk of logits whatever the batch. The sum of token losses is returned, so that
gradient accumulation can normalise by the step's trained-token count.

Also here: a per-example ("varlen") attention function for packed rows, registered with
transformers, which runs scaled-dot-product attention on each example's own slice.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
import torch.nn.functional as F

from curate.train.batching import Batch
from curate.train.config import LOGIT_CHUNK_ROWS

VARLEN = "curate_varlen"


class _LinearCrossEntropy(torch.autograd.Function):
    """sum_i CE(h_i @ W^T + b, y_i), with the gradient formed chunk by chunk in forward."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        chunk_rows: int,
    ) -> torch.Tensor:
        need_h = ctx.needs_input_grad[0]
        need_w = ctx.needs_input_grad[1]
        need_b = bias is not None and ctx.needs_input_grad[2]
        w = weight.to(hidden.dtype)
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        g_h = torch.empty_like(hidden) if need_h else None
        g_w = torch.zeros_like(weight, dtype=torch.float32) if need_w else None
        g_b = torch.zeros_like(bias, dtype=torch.float32) if need_b else None
        for s in range(0, hidden.shape[0], chunk_rows):
            h, y = hidden[s : s + chunk_rows], targets[s : s + chunk_rows]
            logits = (h @ w.T).float()
            if bias is not None:
                logits += bias.float()
            logp = torch.log_softmax(logits, dim=-1)
            del logits
            total -= logp.gather(1, y[:, None]).sum()
            if need_h or need_w or need_b:
                grad = logp.exp_()  # softmax, in place; d(sum CE)/d logits = softmax - onehot
                grad[torch.arange(len(y), device=y.device), y] -= 1.0
                if need_h:
                    g_h[s : s + chunk_rows] = (grad.to(w.dtype) @ w).to(hidden.dtype)
                if need_w:
                    g_w += grad.T @ h.float()
                if need_b:
                    g_b += grad.sum(0)
        ctx.save_for_backward(*(t if t is not None else torch.empty(0) for t in (g_h, g_w, g_b)))
        ctx.has = (need_h, need_w, need_b)
        ctx.dtypes = (weight.dtype, None if bias is None else bias.dtype)
        return total

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        g_h, g_w, g_b = ctx.saved_tensors
        need_h, need_w, need_b = ctx.has
        return (
            g_h * grad_out if need_h else None,
            (g_w * grad_out).to(ctx.dtypes[0]) if need_w else None,
            (g_b * grad_out).to(ctx.dtypes[1]) if need_b else None,
            None,
            None,
        )


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    chunk_rows: int = LOGIT_CHUNK_ROWS,
) -> torch.Tensor:
    """Summed cross-entropy of ``hidden @ weight.T (+ bias)`` against ``targets`` (fp32 result)."""
    if hidden.shape[0] == 0:
        return hidden.sum() * 0.0
    return _LinearCrossEntropy.apply(hidden, weight, bias, targets, chunk_rows)


def causal_parts(model: Any) -> tuple[Any, Any, Any]:
    """(causal LM with adapters injected, its decoder, its output head) under any peft wrapping."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    return causal, causal.get_decoder(), causal.get_output_embeddings()


def batch_loss(
    model: Any,
    batch: Batch,
    *,
    prompt_learning: bool = False,
    virtual_tokens: int = 0,
    chunk_rows: int = LOGIT_CHUNK_ROWS,
) -> torch.Tensor:
    """Summed token cross-entropy of one micro-batch (divide by the step's target count)."""
    causal, decoder, head = causal_parts(model)
    cap = getattr(causal.config, "final_logit_softcapping", None)
    fused = (
        not prompt_learning
        and isinstance(head, torch.nn.Linear)
        and type(head) is torch.nn.Linear
        and not cap
    )
    kw: dict[str, Any] = {}
    if batch.cu_seqlens is not None:
        kw = {
            "cu_seq_lens_q": batch.cu_seqlens,
            "cu_seq_lens_k": batch.cu_seqlens,
            "max_length_q": batch.max_seqlen,
            "max_length_k": batch.max_seqlen,
        }
    if prompt_learning:  # peft prepends virtual tokens inside its own forward: use it, full logits
        out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False)
        logits = (
            out.logits[:, virtual_tokens:] if out.logits.shape[1] > batch.input_ids.shape[1] else out.logits
        )
        flat = logits.reshape(-1, logits.shape[-1])[batch.pred_index]
        return F.cross_entropy(flat.float(), batch.targets, reduction="sum")
    hidden = decoder(
        input_ids=batch.input_ids,
        position_ids=batch.position_ids,
        attention_mask=batch.attention_mask,
        use_cache=False,
        **kw,
    ).last_hidden_state
    h = hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch.pred_index)
    if fused:
        return linear_cross_entropy(h, head.weight, batch.targets, bias=head.bias, chunk_rows=chunk_rows)
    total = torch.zeros((), dtype=torch.float32, device=h.device)
    for s in range(0, h.shape[0], chunk_rows):  # a wrapped head or soft-capped logits: plain autograd
        logits = head(h[s : s + chunk_rows]).float()
        if cap:
            logits = cap * torch.tanh(logits / cap)
        total = total + F.cross_entropy(logits, batch.targets[s : s + chunk_rows], reduction="sum")
    return total


def varlen_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    **_: Any,
) -> tuple[torch.Tensor, None]:
    """Causal attention within each packed example (``cu_seq_lens_q`` bounds); no mask, no waste.

    Shapes follow transformers' attention interface: q (1, H, T, D), k/v (1, KV, T, D) -> (1, T, H, D).
    Without bounds (generation, unpacked batches) it is plain causal SDPA.
    """
    gqa = query.shape[1] != key.shape[1]
    if cu_seq_lens_q is None:
        causal = attention_mask is None and query.shape[2] > 1 and query.shape[2] == key.shape[2]
        out = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=attention_mask,
            dropout_p=dropout,
            is_causal=causal,
            scale=scaling,
            enable_gqa=gqa,
        )
        return out.transpose(1, 2).contiguous(), None
    bounds = cu_seq_lens_q.tolist()
    parts = [
        F.scaled_dot_product_attention(
            query[:, :, a:b],
            key[:, :, a:b],
            value[:, :, a:b],
            dropout_p=dropout,
            is_causal=True,
            scale=scaling,
            enable_gqa=gqa,
        )
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]
    return torch.cat(parts, dim=2).transpose(1, 2).contiguous(), None


def attention_impl(mode: str, device: torch.device, *, packing: bool) -> str:
    """sdpa for padded batches and block masks; flash-attn varlen on CUDA when installed; else ours."""
    if not packing or mode == "block_mask":
        return "sdpa"
    if mode == "auto" and device.type == "cuda":
        import importlib.util

        if importlib.util.find_spec("flash_attn") is not None:
            return "flash_attention_2"
    return register_varlen()


def register_varlen() -> str:
    """Make ``curate_varlen`` a valid ``attn_implementation`` (idempotent); returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(VARLEN, varlen_attention)
    return VARLEN
