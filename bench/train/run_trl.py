"""TRL SFTTrainer on the benchmark spec (runs in bench/.venvs/trl).

Loss on assistant tokens only (``assistant_only_loss``): SmolLM2's chat template has no
``{% generation %}`` markers and TRL cannot patch it, so ``smollm2_training.jinja`` is the same
template with the markers added around each assistant turn (its content, ``<|im_end|>`` and the
newline, as LLaMA-Factory labels it); it renders byte-identical text. Everything not set here is
TRL's default (gradient checkpointing on, AdamW, no packing); bf16 is turned off for fp32.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import probe  # first: starts the setup clock
import torch
import transformers
import trl
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

HERE = Path(__file__).resolve().parent


def main(spec_path: str, out_path: str) -> None:
    s = json.loads(Path(spec_path).read_text())
    torch.set_num_threads(s["threads"])
    torch.manual_seed(s["seed"])
    tok = AutoTokenizer.from_pretrained(s["model_dir"])
    tok.chat_template = (HERE / "smollm2_training.jinja").read_text()
    model = AutoModelForCausalLM.from_pretrained(s["model_dir"], dtype=torch.float32)
    data = load_dataset("json", data_files=s["data"], split="train")
    cfg = SFTConfig(
        output_dir=str(Path(s["work_dir"]) / "trl"),
        max_steps=s["steps"],
        per_device_train_batch_size=s["micro_batch"],
        gradient_accumulation_steps=s["grad_accum"],
        learning_rate=s["lr"],
        lr_scheduler_type="cosine",
        warmup_steps=0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=s["seed"],
        data_seed=s["seed"],
        bf16=False,
        fp16=False,
        use_cpu=True,
        max_length=s["max_len"],
        packing=s["packing"],
        assistant_only_loss=True,
        train_sampling_strategy="sequential",
        dataloader_num_workers=0,
    )
    lora = LoraConfig(
        r=s["rank"],
        lora_alpha=s["alpha"],
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    probe.count_tokens(SFTTrainer)
    info = {"version": f"trl {trl.__version__}, transformers {transformers.__version__}"}
    cb = probe.StepProbe(Path(out_path), "trl", info)
    trainer = SFTTrainer(
        model=model, args=cfg, train_dataset=data, processing_class=tok, peft_config=lora, callbacks=[cb]
    )
    trainer.train()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
