"""After training: save the adapter (or model), merge it into a full model and check the merge,
write a model card carrying the data manifest, and export the dataset for LLaMA-Factory.

The merge check exists because a merge can silently go wrong (a dtype, a tied head, DoRA's
magnitude): the merged model's logits on probe inputs must match base+adapter within a tolerance.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import TrainError
from curate.train.config import TrainConfig

log = logging.getLogger(__name__)

META = "curate_train.json"
PROBES = ("What is the capital of France?", "Write one sentence about rivers.", "请用一句话介绍你自己。")


def save_trained(
    model: Any,
    tokenizer: Any,
    out_dir: Path,
    cfg: TrainConfig,
    *,
    summary: dict[str, Any],
    manifest: dict[str, Any] | None,
    pissa_init: Path | None = None,
) -> dict[str, str]:
    """Write ``adapter/`` (peft methods) or ``model/`` (full, freeze, PLoRA) with tokenizer, template,
    ``curate_train.json`` and a README model card; returns their paths."""
    peft_out = cfg.is_peft and not cfg.plora_merge_steps
    folder = out_dir / ("adapter" if peft_out else "model")
    if peft_out:
        extra = {"path_initial_model_for_weight_conversion": str(pissa_init)} if pissa_init else {}
        model.save_pretrained(folder, **extra)
    else:
        plain = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
        plain.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    meta = {
        "model": cfg.model,
        "method": cfg.method,
        "config": cfg.model_dump(mode="json"),
        "summary": summary,
    }
    (folder / META).write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    (folder / "README.md").write_text(model_card(cfg, summary, manifest, adapter=peft_out), encoding="utf-8")
    return {"adapter_dir" if peft_out else "model_dir": str(folder)}


def merge(
    adapter_dir: Path,
    out_dir: Path,
    *,
    base: str | None = None,
    tolerance: float = 1e-3,
    probes: list[str] | None = None,
) -> dict[str, Any]:
    """Fold a LoRA adapter into its base model, check the logits, save a full model to ``out_dir``.

    Logits of base+adapter are taken first, then the adapter is merged in place and the same probes
    are run again, so only one copy of the model is in memory. Raises TrainError past ``tolerance``.
    """
    import torch
    from peft import PeftConfig, PeftModel
    from transformers import AutoTokenizer

    from curate.models import load_causal_lm

    meta_path = adapter_dir / META
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    base = base or meta.get("model") or PeftConfig.from_pretrained(str(adapter_dir)).base_model_name_or_path
    if PeftConfig.from_pretrained(str(adapter_dir)).is_prompt_learning:
        raise TrainError(
            "prompt/prefix/p-tuning adapters add virtual tokens and cannot be merged into weights",
            hint="load them with peft.PeftModel.from_pretrained instead",
        )
    tok = AutoTokenizer.from_pretrained(adapter_dir)
    model = PeftModel.from_pretrained(load_causal_lm(base), str(adapter_dir)).eval()
    texts = probes or [
        tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        for p in PROBES
    ]
    inputs = [tok(t, add_special_tokens=False, return_tensors="pt")["input_ids"][:, :256] for t in texts]
    with torch.no_grad():
        before = [model(input_ids=x, use_cache=False).logits for x in inputs]
        merged = model.merge_and_unload()
        after = [merged(input_ids=x, use_cache=False).logits for x in inputs]
    diff = max(float((a - b).abs().max()) for a, b in zip(before, after, strict=False))
    if diff > tolerance:
        raise TrainError(
            f"merged model differs from base+adapter by {diff:.2e} logits (> {tolerance:g})",
            hint="keep using the adapter; report the model and method",
        )
    merged.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    info = {"model_dir": str(out_dir), "base": base, "max_logit_diff": diff, "tolerance": tolerance}
    meta["merge"] = info
    (out_dir / META).write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    if (adapter_dir / "README.md").exists():
        card = (
            (adapter_dir / "README.md")
            .read_text(encoding="utf-8")
            .replace("library_name: peft", "library_name: transformers")
        )
        (out_dir / "README.md").write_text(
            card + f"\nMerged from the adapter; max |logit| difference on "
            f"{len(inputs)} probes: {diff:.2e}.\n",
            encoding="utf-8",
        )
    log.info("merged %s into %s (max logit diff %.2e)", adapter_dir, out_dir, diff)
    return info


def model_card(
    cfg: TrainConfig, summary: dict[str, Any], manifest: dict[str, Any] | None, *, adapter: bool
) -> str:
    """A README with front matter, results, the training config and the data manifest."""
    m = manifest or {}
    licenses = sorted({str(s.get("license")) for s in m.get("sources", []) if s.get("license")})
    front = [
        "---",
        f"base_model: {cfg.model}",
        f"library_name: {'peft' if adapter else 'transformers'}",
        f"license: {licenses[0] if len(licenses) == 1 else 'other'}",
        "tags: [curate, sft]",
        "---",
        "",
    ]
    lines = [
        f"# {m.get('name', 'curate')} — {cfg.method} on {cfg.model}",
        "",
        f"Eval loss {summary.get('base_eval_loss')} (base) → {summary.get('final_eval_loss')} after "
        f"{summary.get('steps')} steps on {summary.get('train_examples')} examples "
        f"({summary.get('tokens_per_s')} tokens/s).",
        "",
        "## Data",
        "",
    ]
    if m.get("sources"):
        lines += ["| source | license | rows read | domain |", "|---|---|---|---|"]
        lines += [
            f"| {s.get('name')} | {s.get('license') or 'unknown'} | {s.get('rows')} | {s.get('domain')} |"
            for s in m["sources"]
        ]
        lines.append("")
    if m.get("stages"):
        lines += ["| # | stage | in | kept | removed |", "|---|---|---|---|---|"]
        lines += [
            "| " + " | ".join(str(s.get(k)) for k in ("index", "name", "rows_in", "kept", "removed")) + " |"
            for s in m["stages"]
        ]
        lines.append("")
    if m.get("output"):
        lines += [f"Output rows: {m['output'].get('rows')}.", ""]
    dropped = summary.get("dropped") or {}
    lines += [
        f"Rows dropped before training: {dropped or 'none'}; rows shortened by dropping their oldest "
        f"exchanges: {summary.get('truncated_rows', 0)}.",
        "",
        "## Training config",
        "",
        "```json",
        json.dumps(cfg.model_dump(mode="json"), indent=2),
        "```",
        "",
    ]
    return "\n".join(front + lines)


def export_llamafactory(
    df: pl.DataFrame,
    out_dir: Path,
    *,
    name: str = "curate",
    cfg: TrainConfig | None = None,
    template: str | None = None,
) -> dict[str, Any]:
    """``dataset_info.json`` + ShareGPT (chat) / text (documents) files that LLaMA-Factory reads as is.

    With ``cfg`` also writes ``train_lora.yaml`` with the same hyperparameters, so both tools train
    the same thing. Returns the paths and row counts.
    """
    from curate.formats import write

    out_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    counts: dict[str, int] = {}
    chat, text = df.filter(pl.col("kind") == "chat"), df.filter(pl.col("kind") == "text")
    if chat.height:
        write(chat, out_dir / f"{name}.json", fmt="sharegpt", file_format="json")
        info[name] = {
            "file_name": f"{name}.json",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
            "tags": {
                "role_tag": "from",
                "content_tag": "value",
                "user_tag": "human",
                "assistant_tag": "gpt",
                "observation_tag": "observation",
                "function_tag": "function_call",
                "system_tag": "system",
            },
        }
        counts[name] = chat.height
    if text.height:
        write(text, out_dir / f"{name}_pt.json", fmt="text", file_format="json")
        info[f"{name}_pt"] = {"file_name": f"{name}_pt.json", "columns": {"prompt": "text"}}
        counts[f"{name}_pt"] = text.height
    (out_dir / "dataset_info.json").write_text(
        json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    result: dict[str, Any] = {"dir": str(out_dir), "datasets": counts}
    if cfg is not None and chat.height:
        result["train_yaml"] = str(_lf_yaml(out_dir, name, cfg, template))
    return result


def _lf_yaml(out_dir: Path, name: str, cfg: TrainConfig, template: str | None) -> Path:
    """LLaMA-Factory args matching ``cfg`` (LoRA SFT); the model path must be a HF folder or id."""
    lines = {
        "model_name_or_path": cfg.model,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "full" if cfg.method == "full" else "lora",
        "lora_rank": cfg.rank,
        "lora_alpha": cfg.alpha,
        "lora_dropout": cfg.dropout,
        "lora_target": "all" if cfg.target_modules == "all-linear" else ",".join(cfg.target_modules),
        "dataset": name,
        "dataset_dir": str(out_dir),
        "template": template or "chatml",
        "cutoff_len": cfg.max_len,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": 1,
        "learning_rate": cfg.lr,
        "num_train_epochs": cfg.epochs,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": cfg.warmup_ratio,
        "seed": cfg.seed,
        "output_dir": str(out_dir / "lf_output"),
        "logging_steps": cfg.log_steps,
    }
    if cfg.max_steps:
        lines["max_steps"] = cfg.max_steps
    path = out_dir / "train_lora.yaml"
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in lines.items()), encoding="utf-8")
    return path
