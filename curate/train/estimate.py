"""Plan before you train: memory by component and rules of thumb from the dataset size.

Parameters are counted from the model config on the ``meta`` device (no weights loaded). Memory
per component, in bytes: weights (4/param fp32, 2 bf16, ~0.55 NF4), gradients and AdamW moments for
the trainable parameters only (4 + 8 bytes each, fp32), activations ~ (10 h + 4 i + 2 kv) values
per token per layer (SDPA keeps no attention matrix; checkpointing keeps one hidden state per
layer), and the logits: one chunk here versus tokens x vocab x 3 copies in a stock trainer. Full
fine-tuning lands at 16 bytes/param + activations, i.e. the usual 16-20 GB per billion parameters.
"""

from __future__ import annotations

from typing import Any, Literal

from curate.train.config import LOGIT_CHUNK_ROWS

GB = 1e9  # decimal GB, as the 16-20 GB per billion parameters rule of thumb counts


def model_shape(model: str) -> dict[str, Any]:
    """Config numbers and exact parameter counts of ``model`` without loading its weights."""
    import torch
    from transformers import AutoModelForCausalLM

    from curate.models import load_config

    config = load_config(model)
    with torch.device("meta"):
        m = AutoModelForCausalLM.from_config(config)
    total = sum(p.numel() for p in m.parameters())
    head = m.get_output_embeddings()
    linear = [
        (mod.in_features, mod.out_features)
        for mod in m.modules()
        if isinstance(mod, torch.nn.Linear) and mod is not head
    ]
    h = config.hidden_size
    kv = getattr(config, "num_key_value_heads", config.num_attention_heads) * (
        h // config.num_attention_heads
    )
    return {
        "params": int(total),
        "linear": linear,
        "layers": config.num_hidden_layers,
        "hidden": h,
        "intermediate": getattr(config, "intermediate_size", 4 * h),
        "kv_dim": kv,
        "vocab": config.vocab_size,
        "embed_params": int(m.get_input_embeddings().weight.numel()),
    }


def estimate_memory(
    shape: dict[str, Any],
    *,
    method: Literal["full", "lora", "qlora"],
    seq_len: int,
    batch: int,
    rank: int = 8,
    precision: Literal["fp32", "bf16"] = "fp32",
    gradient_checkpointing: bool = False,
    logit_chunk_rows: int = LOGIT_CHUNK_ROWS,
    micro_batch_tokens: int | None = None,
) -> dict[str, float]:
    """GB per component for a step of ``batch`` x ``seq_len`` tokens.

    Activations count one forward pass: the whole batch, or with ``micro_batch_tokens`` (curate's
    gradient accumulation) at most that many tokens, and never less than one example.
    """
    p = shape["params"]
    wbytes = 4 if precision == "fp32" else 2
    if method == "qlora":
        lin = sum(i * o for i, o in shape["linear"])
        weights = lin * 0.55 + (p - lin) * 2
    else:
        weights = p * (4 if method == "full" else wbytes)
    trainable = p if method == "full" else sum(rank * (i + o) for i, o in shape["linear"])
    grads, optim = trainable * 4, trainable * 8
    tokens = step_tokens = seq_len * batch
    if micro_batch_tokens:
        tokens = min(tokens, max(micro_batch_tokens, seq_len))
    act_bytes = 4 if precision == "fp32" else 2
    per_layer = 20 * shape["hidden"] + 4 * shape["intermediate"] + 2 * shape["kv_dim"]
    if gradient_checkpointing:
        acts = tokens * act_bytes * (shape["layers"] * shape["hidden"] + per_layer)
    else:
        acts = tokens * act_bytes * shape["layers"] * per_layer
    logits_ours = min(tokens, logit_chunk_rows) * shape["vocab"] * 4 * 2
    logits_naive = step_tokens * shape["vocab"] * 4 * 3
    out = {
        "weights": weights,
        "gradients": grads,
        "optimizer": optim,
        "activations": acts,
        "logits": logits_ours,
    }
    res = {k: round(v / GB, 3) for k, v in out.items()}
    res["total"] = round(sum(out.values()) / GB, 3)
    res["logits_full_vocab_trainer"] = round(logits_naive / GB, 3)
    res["trainable_params"] = int(trainable)
    res["params"] = int(p)
    res["gb_per_billion_params"] = round((weights + grads + optim) / GB / (p / 1e9), 1)
    return res


def advice(*, rows: int | None, method: str, params: int) -> list[str]:
    """Rules of thumb: which checkpoint to start from, epochs, learning rate and batch."""
    out = []
    if rows is not None:
        if rows < 10_000:
            out.append(
                f"{rows:,} examples: start from the chat/instruct model (it already follows turns); "
                "~3 epochs."
            )
        elif rows >= 100_000:
            out.append(
                f"{rows:,} examples: enough to teach the format, so the base model is a good start; "
                "1-2 epochs."
            )
        else:
            out.append(
                f"{rows:,} examples: either checkpoint works; prefer the chat model unless the style "
                "must change a lot; 2-3 epochs."
            )
    if method == "full":
        out.append("full fine-tuning: lr <= 2e-5 (1e-5 is safer), warmup 3%, weight decay 0.01-0.1.")
    else:
        out.append(f"{method}: lr ~2e-4 (1e-4 for rank >= 64 or with rslora), alpha = 2 x rank.")
    out.append("effective batch 8-32 examples; raise micro_batch_tokens only while memory allows.")
    if params > 3e9 and method != "qlora":
        out.append("over 3B parameters: consider qlora (4-bit base) on one GPU.")
    return out
