"""LLaMA-Factory SFT (LoRA) on the benchmark spec (runs in bench/.venvs/llamafactory).

The chat file is registered as a ShareGPT dataset with role/content tags (the leading system message
becomes LLaMA-Factory's system prompt) and rendered with its ``smollm2`` template, which produces the
same text as the model's own chat template. SFT trains on assistant turns (content + ``<|im_end|>\\n``)
by default. ``disable_shuffling`` makes it read the (already seeded-shuffled) file in order, so it
sees the same batches as TRL. Everything not set here is LLaMA-Factory's default (gradient
checkpointing on, AdamW, no packing).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import probe  # first: starts the setup clock
import torch
import transformers
from llamafactory import __version__ as lf_version
from llamafactory.train.sft.trainer import CustomSeq2SeqTrainer
from llamafactory.train.tuner import run_exp


def main(spec_path: str, out_path: str) -> None:
    s = json.loads(Path(spec_path).read_text())
    torch.set_num_threads(s["threads"])
    work = Path(s["work_dir"]) / "llamafactory"
    work.mkdir(parents=True, exist_ok=True)
    info = {
        "bench": {
            "file_name": str(Path(s["data"]).resolve()),
            "formatting": "sharegpt",
            "columns": {"messages": "messages"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
                "system_tag": "system",
            },
        }
    }
    (work / "dataset_info.json").write_text(json.dumps(info))
    args = {
        "stage": "sft",
        "do_train": True,
        "model_name_or_path": s["model_dir"],
        "finetuning_type": "lora",
        "lora_rank": s["rank"],
        "lora_alpha": s["alpha"],
        "lora_dropout": 0.0,
        "lora_target": "all",
        "dataset": "bench",
        "dataset_dir": str(work),
        "template": "smollm2",
        "cutoff_len": s["max_len"],
        "packing": s["packing"],
        "neat_packing": s["packing"],
        "overwrite_cache": True,
        "disable_shuffling": True,
        "output_dir": str(work / "out"),
        "overwrite_output_dir": True,
        "per_device_train_batch_size": s["micro_batch"],
        "gradient_accumulation_steps": s["grad_accum"],
        "learning_rate": s["lr"],
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0,
        "max_steps": s["steps"],
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "plot_loss": False,
        "seed": s["seed"],
        "infer_dtype": "float32",
        "dataloader_num_workers": 0,
    }
    probe.count_tokens(CustomSeq2SeqTrainer)
    version = f"llamafactory {lf_version}, transformers {transformers.__version__}"
    cb = probe.StepProbe(Path(out_path), "llamafactory", {"version": version})
    run_exp(args, callbacks=[cb])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
