"""Export a dataset (and its leak-free eval split) for LLaMA-Factory, with a ``train_lora.yaml`` that
trains what ``curate train`` would.

The files follow LLaMA-Factory's documented data format (``data/README.md``): ShareGPT records
``{conversations: [{from, value}], system, tools}`` for chat, ``{text}`` for documents, one JSON
array per dataset (LLaMA-Factory and ``datasets`` read an array in one piece). ``dataset_info.json``
maps exactly the columns the writer wrote; ``system`` and ``tools`` are ``""`` when absent, which
LLaMA-Factory reads as none. The YAML's keys are LLaMA-Factory's documented arguments (its
``hparams/*_args.py`` and transformers' ``Seq2SeqTrainingArguments``); a test checks them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import InputError
from curate.train.config import TrainConfig

SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
_FINETUNING = {"lora": "lora", "qlora": "lora", "full": "full", "freeze": "freeze"}


def _chat_entry(file_name: str) -> dict[str, Any]:
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
        "tags": dict(SHAREGPT_TAGS),
    }


def export_llamafactory(
    df: pl.DataFrame,
    out_dir: Path,
    *,
    name: str = "curate",
    cfg: TrainConfig | None = None,
    template: str | None = None,
    eval_df: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """``dataset_info.json`` + ShareGPT (chat) / text (documents) files that LLaMA-Factory reads as is.

    ``eval_df`` (a run's ``eval`` split) becomes a second dataset, ``<name>_eval``. With ``cfg``
    also writes ``train_lora.yaml`` with the same hyperparameters, the base model as LLaMA-Factory
    can load it, and the eval dataset. Returns the paths and row counts.
    """
    from curate.formats import write

    out_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    counts: dict[str, int] = {}
    chat, text = df.filter(pl.col("kind") == "chat"), df.filter(pl.col("kind") == "text")
    if chat.height:
        write(chat, out_dir / f"{name}.json", fmt="sharegpt", file_format="json")
        info[name] = _chat_entry(f"{name}.json")
        counts[name] = chat.height
    if text.height:
        write(text, out_dir / f"{name}_pt.json", fmt="text", file_format="json")
        info[f"{name}_pt"] = {"file_name": f"{name}_pt.json", "columns": {"prompt": "text"}}
        counts[f"{name}_pt"] = text.height
    eval_name = None
    ev = eval_df.filter(pl.col("kind") == "chat") if eval_df is not None else None
    if ev is not None and ev.height:
        eval_name = f"{name}_eval"
        write(ev, out_dir / f"{eval_name}.json", fmt="sharegpt", file_format="json")
        info[eval_name] = _chat_entry(f"{eval_name}.json")
        counts[eval_name] = ev.height
    (out_dir / "dataset_info.json").write_text(
        json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    result: dict[str, Any] = {"dir": str(out_dir), "datasets": counts}
    if cfg is not None and chat.height:
        result["train_yaml"] = str(_lf_yaml(out_dir, name, cfg, template, eval_name))
    return result


def model_reference(model: str) -> tuple[str, list[str]]:
    """What ``model_name_or_path`` should say for curate's ``model``, plus comment lines.

    A packaged alias (``smollm2-135m``) is curate's name only: LLaMA-Factory gets the upstream
    Hugging Face id, which any machine with the hub (or its cache) loads, and a comment names the
    converted safetensors folder that loads offline on this machine. A local folder is given as
    an absolute path; a GGUF-only model cannot be trained by LLaMA-Factory until curate converts it.
    """
    from curate.models import local_dir, portable_id

    hf_id, local = portable_id(model), local_dir(model)
    if hf_id:
        notes = [f"curate model {model!r}"]
        if local and str(local) != hf_id:
            notes.append(f"offline on this machine: model_name_or_path: {local}")
        return hf_id, notes
    if local:
        return str(local), [f"curate model {model!r} (a local folder)"]
    raise InputError(
        f"model {model!r} has no Hugging Face id and no plain local folder for LLaMA-Factory",
        hint="train or load it once with curate (it converts GGUF to safetensors), or pass a folder",
    )


def template_default_system(model: str) -> str | None:
    """The system prompt the model's own chat template inserts when a row has none (ChatML
    templates only), or None. SmolLM2's says "...trained by Hugging Face" and LLaMA-Factory's
    ``smollm2`` template adds a final period; passing it as ``default_system`` makes both tools
    train on the same tokens."""
    from curate.errors import CurateError
    from curate.models import load_tokenizer

    try:
        text = load_tokenizer(model).apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)
    except (CurateError, OSError, ValueError):  # no tokenizer or no template: LLaMA-Factory's decides
        return None
    head = "<|im_start|>system\n"
    if not isinstance(text, str) or not text.startswith(head) or "<|im_end|>" not in text:
        return None
    return text[len(head):text.index("<|im_end|>")] or None


def _lf_yaml(out_dir: Path, name: str, cfg: TrainConfig, template: str | None, eval_name: str | None) -> Path:
    """LLaMA-Factory SFT args matching ``cfg``."""
    from curate.models import ALIASES, PACKAGED

    if cfg.method not in _FINETUNING or cfg.plora_merge_steps:
        raise InputError(
            f"LLaMA-Factory has no equivalent of method {cfg.method!r}"
            + (" with plora_merge_steps" if cfg.plora_merge_steps else ""),
            hint="export the data without --config, or use method lora, qlora, full or freeze",
        )
    model, notes = model_reference(cfg.model)
    packaged = PACKAGED.get(ALIASES.get(cfg.model, cfg.model))
    lines: dict[str, Any] = {
        "model_name_or_path": model,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": _FINETUNING[cfg.method],
    }
    if cfg.method in ("lora", "qlora"):
        lines |= {
            "lora_rank": cfg.rank,
            "lora_alpha": int(cfg.alpha) if float(cfg.alpha).is_integer() else cfg.alpha,  # an int there
            "lora_dropout": cfg.dropout,
            "lora_target": "all" if cfg.target_modules == "all-linear" else ",".join(cfg.target_modules),
        }
        lines |= {k: v for k, v in (("use_rslora", cfg.rslora), ("use_dora", cfg.dora),
                                    ("pissa_init", cfg.lora_init == "pissa"),
                                    ("loraplus_lr_ratio", cfg.loraplus_lr_ratio)) if v}
        if cfg.method == "qlora":
            lines["quantization_bit"] = 4
    if cfg.method == "freeze":
        lines["freeze_trainable_layers"] = cfg.freeze_trainable_layers
    lines |= {
        "dataset": name,
        "dataset_dir": str(out_dir.resolve()),
        "template": template or (packaged.lf_template if packaged and packaged.lf_template else "chatml"),
        "cutoff_len": cfg.max_len,
        "mask_history": cfg.last_turn_only,
        "packing": cfg.packing,
        "neat_packing": cfg.packing,  # curate packs without attention across examples
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": 1,
        "learning_rate": cfg.lr,
        "num_train_epochs": cfg.epochs,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": cfg.warmup_ratio,
        "weight_decay": cfg.weight_decay,
        "max_grad_norm": cfg.max_grad_norm,
        "seed": cfg.seed,
        "output_dir": str((out_dir / "lf_output").resolve()),
        "logging_steps": cfg.log_steps,
    }
    system = template_default_system(cfg.model)
    if system:
        lines["default_system"] = system
    if cfg.precision in ("bf16", "fp16"):
        lines[cfg.precision] = True
    if cfg.max_steps:
        lines["max_steps"] = cfg.max_steps
    if eval_name:
        every = cfg.eval_steps or 100
        lines |= {
            "eval_dataset": eval_name,
            "per_device_eval_batch_size": cfg.batch_size,
            "eval_strategy": "steps",
            "eval_steps": min(every, cfg.max_steps) if cfg.max_steps else every,
        }
    path = out_dir / "train_lora.yaml"
    head = "".join(f"# {n}\n" for n in notes)
    path.write_text(head + "".join(f"{k}: {json.dumps(v)}\n" for k, v in lines.items()), encoding="utf-8")
    return path
