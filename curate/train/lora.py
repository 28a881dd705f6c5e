"""What is trained: LoRA and its variants through peft, prompt methods, freeze-tuning or everything.

LoRA starts from A random (kaiming-uniform, or gaussian) and B = 0, so step 0 computes exactly the
base model; ``pissa`` instead starts A and B from the top singular vectors of each weight (and
removes them from the base, so the sum is still the base). rsLoRA scales by alpha/sqrt(r), DoRA
learns a per-column magnitude, LoRA+ gives B a larger learning rate, and PLoRA folds the adapter
into the base every N steps and starts a fresh one (so a low rank adds up to a higher-rank update).
QLoRA keeps the base in 4-bit NF4 (bitsandbytes, CUDA only); freeze-tuning trains the last N blocks.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from curate.errors import TrainError
from curate.train.config import TrainConfig

log = logging.getLogger(__name__)


def prepare(model: Any, cfg: TrainConfig) -> Any:
    """Wrap or unfreeze ``model`` for ``cfg.method``; returns the model to train."""
    for p in model.parameters():
        p.requires_grad_(False)
    if cfg.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if cfg.method == "freeze":
        layers = getattr(model.get_decoder(), "layers", None)
        if layers is None:
            raise TrainError(f"method=freeze cannot find the decoder blocks of {type(model).__name__}")
        n = min(cfg.freeze_trainable_layers, len(layers))
        for layer in list(layers)[-n:]:
            for p in layer.parameters():
                p.requires_grad_(True)
        return model
    from peft import get_peft_model

    if cfg.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    peft_cfg = _peft_config(model, cfg)
    torch.manual_seed(cfg.seed)
    with warnings.catch_warnings():  # peft asks a deprecated transformers property; not ours to fix
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, peft_cfg)


def _peft_config(model: Any, cfg: TrainConfig) -> Any:
    from peft import LoraConfig, PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType

    n = cfg.num_virtual_tokens
    if cfg.method == "prompt_tuning":
        return PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=n)
    if cfg.method == "prefix_tuning":
        return PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=n)
    if cfg.method == "p_tuning":
        return PromptEncoderConfig(
            task_type=TaskType.CAUSAL_LM, num_virtual_tokens=n, encoder_hidden_size=model.config.hidden_size
        )
    init: Any = {"kaiming": True, "gaussian": "gaussian", "pissa": "pissa_niter_4"}[cfg.lora_init]
    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=cfg.rank,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules,
        init_lora_weights=init,
        use_rslora=cfg.rslora,
        use_dora=cfg.dora,
    )


def load_base(cfg: TrainConfig, device: Any, dtype: Any) -> Any:
    """The base model on ``device``: fp32/bf16 via curate.models, or 4-bit NF4 for QLoRA."""
    from curate.models import load_causal_lm

    if cfg.method != "qlora":
        return load_causal_lm(cfg.model, dtype=dtype, trust_remote_code=cfg.trust_remote_code).to(device)
    if device.type != "cuda":
        raise TrainError(
            "method=qlora needs a CUDA GPU (bitsandbytes 4-bit kernels)",
            hint="use method: lora on CPU; it trains the same adapter shape in fp32",
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise TrainError("method=qlora needs bitsandbytes", hint="pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )
    return load_causal_lm(
        cfg.model, dtype=dtype, quantization_config=quant, device_map={"": device.index or 0},
        trust_remote_code=cfg.trust_remote_code,
    )


def param_groups(model: Any, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: decay on matrices only; LoRA+ puts B matrices at ``lr x loraplus_lr_ratio``.

    Each group carries ``lr_scale``, which the schedule multiplies by the current lr.
    """
    groups: dict[tuple[bool, float], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = p.ndim >= 2 and "norm" not in name and "embed" not in name
        scale = cfg.loraplus_lr_ratio if cfg.loraplus_lr_ratio and "lora_B" in name else 1.0
        groups.setdefault((decay, scale), []).append(p)
    if not groups:
        raise TrainError(
            f"method={cfg.method} left no trainable parameter",
            hint="check target_modules against the model's module names",
        )
    return [
        {"params": ps, "weight_decay": cfg.weight_decay if decay else 0.0, "lr_scale": scale}
        for (decay, scale), ps in groups.items()
    ]


def lora_layers(model: Any) -> list[Any]:
    """Every peft LoRA layer in ``model``."""
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


@torch.no_grad()
def plora_merge(model: Any, optimizer: torch.optim.Optimizer) -> int:
    """PLoRA: fold every adapter into its base weight, restart A (random) and B (zero), reset Adam.

    The model's function is unchanged by the fold (B = 0 afterwards); returns the layers merged.
    """
    layers = lora_layers(model)
    for layer in layers:
        for name in layer.active_adapters:
            base = layer.get_base_layer()
            base.weight.data += layer.get_delta_weight(name).to(base.weight.dtype)
            layer.reset_lora_parameters(name, True)
            for p in (layer.lora_A[name].weight, layer.lora_B[name].weight):
                optimizer.state.pop(p, None)
    return len(layers)


def save_pissa_init(model: Any, path: Path) -> Path:
    """PiSSA's starting adapter: needed to save the result as a plain LoRA on the original base."""
    cfg = model.peft_config["default"]
    init, cfg.init_lora_weights = cfg.init_lora_weights, True
    model.save_pretrained(path)
    cfg.init_lora_weights = init
    return path


def trainable_counts(model: Any) -> dict[str, int]:
    """Trainable and total parameter counts (reported and written to the model card)."""
    total = sum(p.numel() for p in model.parameters())
    train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_params": int(train), "total_params": int(total)}
