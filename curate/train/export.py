"""After training: save the adapter (or model), merge it into a full model and check the merge,
write a model card carrying the data manifest (the LLaMA-Factory export is ``train/llamafactory.py``).

The merge check exists because a merge can silently go wrong (a dtype, a tied head, DoRA's
magnitude): the merged model's logits on probe inputs must match base+adapter within a tolerance.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

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
    base_id, base_local = _base_refs(cfg.model)
    if peft_out:
        _point_adapter_at(folder, base_id)
    meta = {
        "model": cfg.model,
        "base_model_id": base_id,
        "base_model_local": base_local,
        "method": cfg.method,
        "config": cfg.model_dump(mode="json"),
        "summary": summary,
    }
    (folder / META).write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    (folder / "README.md").write_text(model_card(cfg, summary, manifest, adapter=peft_out), encoding="utf-8")
    return {"adapter_dir" if peft_out else "model_dir": str(folder)}


def _base_refs(model: str) -> tuple[str | None, str | None]:
    """(portable Hugging Face id or None, plain local folder or None) for the trained base model."""
    from curate.models import local_dir, portable_id

    local = local_dir(model)
    return portable_id(model), str(local) if local else None


def _point_adapter_at(folder: Path, base_id: str | None) -> None:
    """Write the portable base id into ``adapter_config.json`` (peft writes the path it loaded from).

    ``PeftModel.from_pretrained(base, folder)`` takes the base model as an object and never reads
    this field; ``AutoPeftModelForCausalLM``, the Hub and LLaMA-Factory's ``adapter_name_or_path``
    users read it, and a cache path of this machine (``~/.cache/curate/models/...``) loads nowhere
    else. The local folder stays in ``curate_train.json`` (``base_model_local``), which ``curate
    merge`` and ``curate eval`` use offline. A model trained from a local path keeps that path.
    """
    cfg_path = folder / "adapter_config.json"
    if base_id is None or not cfg_path.exists():
        return
    data = json.loads(cfg_path.read_text(encoding="utf-8"))
    data["base_model_name_or_path"] = base_id
    cfg_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


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
    from curate.models import portable_id

    front = [
        "---",
        f"base_model: {portable_id(cfg.model) or cfg.model}",
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
