"""Typed training config: the recipe's ``train:`` block and ``curate train --config``.

Importing this module never imports torch, so ``curate validate`` stays fast. Every knob is a typed
field with its unit in the name and a description; docs/training.md explains each one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Rows of logits the loss forms at once. 256 x a 49k vocabulary in fp32 is 50 MB, twice that with
# the log-softmax; at 1024 rows the chunk alone was 0.4 GB of the CPU bench's 2.1 GB peak RSS, for
# no measurable speed (the head matmul is already large at 256 rows).
LOGIT_CHUNK_ROWS = 256

Method = Literal["lora", "qlora", "full", "freeze", "prompt_tuning", "prefix_tuning", "p_tuning"]
PROMPT_METHODS: tuple[str, ...] = ("prompt_tuning", "prefix_tuning", "p_tuning")
ADAPTER_METHODS: tuple[str, ...] = ("lora", "qlora", *PROMPT_METHODS)
# Knobs that belong to some methods only: setting one for another method is an error, not a silent
# no-op (``method: full, rank: 64`` used to train a full model and ignore the rank).
_LORA = ("lora", "qlora")
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    "rank": _LORA,
    "alpha": _LORA,
    "dropout": _LORA,
    "target_modules": _LORA,
    "lora_init": _LORA,
    "rslora": _LORA,
    "dora": _LORA,
    "loraplus_lr_ratio": _LORA,
    "plora_merge_steps": ("lora",),
    "freeze_trainable_layers": ("freeze",),
    "num_virtual_tokens": PROMPT_METHODS,
}


class TrainConfig(BaseModel):
    """Every training knob. Defaults follow common LoRA SFT practice for small data on a CPU."""

    model_config = ConfigDict(extra="forbid")

    # --- what is trained -------------------------------------------------------------------------
    model: str = Field(
        default="smollm2-135m",
        description=(
            "Model to train: a packaged short name (smollm2-135m), a local folder or a cached "
            "Hugging Face id."
        ),
    )
    method: Method = Field(
        default="lora",
        description=(
            "lora | qlora (4-bit NF4 base, CUDA only) | full | freeze (train the last "
            "freeze_trainable_layers blocks) | prompt_tuning | prefix_tuning | p_tuning."
        ),
    )
    rank: int = Field(default=8, ge=1, description="LoRA rank r.")
    alpha: float = Field(
        default=16,
        gt=0,
        description="LoRA alpha; the update is scaled by alpha/r (alpha/sqrt(r) with rslora).",
    )
    dropout: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Dropout on the LoRA input; 0 keeps steps deterministic and fast.",
    )
    target_modules: list[str] | Literal["all-linear"] = Field(
        default="all-linear",
        description=(
            "Module names to adapt (e.g. [q_proj, v_proj]) or all-linear (every linear layer but the "
            "output head)."
        ),
    )
    lora_init: Literal["kaiming", "gaussian", "pissa"] = Field(
        default="kaiming",
        description=(
            "A's init (B starts at zero, so step 0 equals the base model); pissa starts from the top "
            "singular vectors of each weight instead."
        ),
    )
    rslora: bool = Field(
        default=False, description="Rank-stabilized scaling alpha/sqrt(r) (helps at high rank)."
    )
    dora: bool = Field(
        default=False, description="Weight-decomposed LoRA (magnitude + direction); ~2x slower steps."
    )
    loraplus_lr_ratio: float | None = Field(
        default=None,
        gt=0,
        description=(
            "LoRA+: B matrices learn at lr x this ratio (paper suggests 16); unset = same lr for A and B."
        ),
    )
    plora_merge_steps: int | None = Field(
        default=None,
        ge=1,
        description=(
            "PLoRA: every N steps merge the adapter into the base weights and restart it from zero; "
            "the result is saved as a full model."
        ),
    )
    freeze_trainable_layers: int = Field(
        default=2, ge=1, description="method=freeze: number of last blocks trained."
    )
    num_virtual_tokens: int = Field(
        default=16, ge=1, description="Prompt/prefix/p-tuning: learned virtual tokens."
    )

    # --- data ------------------------------------------------------------------------------------
    max_len: int = Field(
        default=512,
        ge=8,
        description=(
            "Max tokens per example; longer chat rows lose their oldest turns first, documents are "
            "cut into blocks."
        ),
    )
    last_turn_only: bool = Field(
        default=False, description="Train only the final assistant turn instead of every one."
    )
    packing: bool = Field(
        default=True,
        description=(
            "Lay examples end to end without padding (attention never crosses examples); off = padded, "
            "length-grouped micro-batches."
        ),
    )
    packing_attention: Literal["auto", "varlen", "block_mask"] = Field(
        default="auto",
        description=(
            "How packed examples are kept apart: varlen (per-example attention, no wasted work), block_mask "
            "(one block-diagonal mask), auto = flash-attn varlen on CUDA when installed, else varlen."
        ),
    )
    micro_batch_tokens: int = Field(
        default=512,
        ge=16,
        description=(
            "Max tokens in one forward pass (padding included when packing is off); bounds activation "
            "memory (~2 MB/token for SmolLM2 LoRA in fp32). A step's examples are split into as few "
            "micro-batches as fit; on CPU 512 was also the fastest per token (vs 1024/2048)."
        ),
    )
    group_by_length: bool = Field(
        default=True, description="Padded mode: put similar lengths in a step to cut padding."
    )
    eval_fraction: float = Field(
        default=0.05, ge=0, lt=1, description=("Held-out share of rows when no eval split is given (seeded).")
    )
    eval_max_rows: int = Field(
        default=64,
        ge=1,
        description=(
            "Cap on eval rows (held out here, or a seeded sample of the recipe's eval split), "
            "so eval stays cheap on CPU."
        ),
    )
    cache_dir: str | None = Field(
        default=None,
        description=(
            "Where tokenized data is cached (Arrow, memory-mapped); default <CURATE_CACHE>/tokenized."
        ),
    )

    # --- optimization ----------------------------------------------------------------------------
    epochs: float = Field(default=1.0, gt=0, description="Passes over the training rows (fractions allowed).")
    max_steps: int | None = Field(
        default=None, ge=1, description="Stop after this many optimizer steps (overrides epochs)."
    )
    batch_size: int = Field(default=8, ge=1, description="Examples per optimizer step (the effective batch).")
    lr: float = Field(
        default=2.0e-4, gt=0, description="Peak learning rate (2e-4 is typical for LoRA, <=2e-5 for full)."
    )
    lr_min_ratio: float = Field(
        default=0.1, ge=0, le=1, description="Cosine decay floor as a fraction of lr."
    )
    warmup_ratio: float = Field(
        default=0.03, ge=0, lt=1, description="Share of steps with linear warmup from 0."
    )
    weight_decay: float = Field(
        default=0.01, ge=0, description="AdamW decoupled weight decay on matrices (not norms or biases)."
    )
    adam_beta1: float = Field(default=0.9, ge=0, lt=1, description="AdamW beta1.")
    adam_beta2: float = Field(default=0.999, ge=0, lt=1, description="AdamW beta2.")
    max_grad_norm: float = Field(default=1.0, gt=0, description="Clip the global gradient norm to this.")
    gradient_checkpointing: bool = Field(
        default=False,
        description=("Recompute activations in backward: ~30% slower, far less memory for long sequences."),
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        default="auto",
        description=(
            "auto = fp32 on CPU, bf16 on GPUs that support it, else fp16 with dynamic loss scaling."
        ),
    )
    seed: int = Field(default=42, description="Seeds the eval split, shuffling, adapter init and dropout.")
    threads: int | None = Field(
        default=None,
        ge=1,
        description=(
            "CPU threads for torch; default = physical cores not already busy (1-minute load average)."
        ),
    )
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto = cuda when available.")

    # --- guard, eval, checkpoints, outputs -------------------------------------------------------
    spike_factor: float = Field(
        default=3.0,
        gt=1,
        description=("Skip a step whose loss exceeds this many times the running median (or is not finite)."),
    )
    spike_window_steps: int = Field(default=20, ge=3, description="Steps in the running median.")
    spike_warmup_steps: int = Field(
        default=10, ge=1, description="Steps of history before the spike guard acts."
    )
    spike_max_skips: int = Field(default=5, ge=1, description="Stop training after this many skipped steps.")
    eval_steps: int | None = Field(
        default=None, ge=1, description="Eval every N steps (always before and after)."
    )
    log_steps: int = Field(default=1, ge=1, description="Write a metrics line every N steps.")
    save_steps: int | None = Field(
        default=100, ge=1, description="Checkpoint every N steps for --resume; unset = none."
    )
    save_total_limit: int = Field(default=2, ge=1, description="Checkpoints kept (oldest deleted).")
    sample_count: int = Field(
        default=3, ge=0, description="Eval prompts answered by the trained model into samples.jsonl."
    )
    sample_max_new_tokens: int = Field(default=64, ge=1, description="Tokens generated per sample.")
    merge: bool = Field(
        default=False, description="After LoRA training also write a merged full model (checked)."
    )
    merge_tolerance: float = Field(
        default=1e-3,
        gt=0,
        description=("Max |logit| difference allowed between merged model and base+adapter on probe inputs."),
    )
    tensorboard: bool = Field(
        default=True, description="Also write TensorBoard events when tensorboard is installed."
    )

    @model_validator(mode="after")
    def _compatible(self) -> TrainConfig:
        used_by = METHOD_FIELDS.get
        stray = [f for f in sorted(self.model_fields_set) if self.method not in used_by(f, (self.method,))]
        if stray:
            owners = {f: ", ".join(METHOD_FIELDS[f]) for f in stray}
            detail = "; ".join(f"{f} is for method: {m}" for f, m in owners.items())
            raise ValueError(f"method: {self.method} does not use {', '.join(stray)} ({detail})")
        if self.plora_merge_steps and (self.dora or self.lora_init == "pissa" or self.method != "lora"):
            raise ValueError("plora_merge_steps works with method: lora, without dora or pissa init")
        if self.dora and self.method not in ("lora", "qlora"):
            raise ValueError("dora is a LoRA option (method: lora or qlora)")
        return self

    @property
    def is_peft(self) -> bool:
        """Whether the trained weights live in a peft adapter (vs the model itself)."""
        return self.method in ADAPTER_METHODS

    @property
    def is_prompt_learning(self) -> bool:
        return self.method in PROMPT_METHODS
