"""The LLaMA-Factory export runs as is: a loadable model reference, the eval split as a second
dataset, a column mapping that matches the files, documented argument names; and a trained
adapter names a base model that other machines can load."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml

from curate.formats import read_source
from curate.recipe import SourceSpec
from curate.train.config import TrainConfig
from curate.train.llamafactory import export_llamafactory, model_reference

ROOT = Path(__file__).resolve().parents[2]

# LLaMA-Factory's documented arguments that are not transformers' Seq2SeqTrainingArguments, copied
# from hiyouga/LLaMA-Factory at ff6d4d1 (2026-08): src/llamafactory/hparams/{model,data,finetuning}
# _args.py, and examples/train_lora/qwen3_lora_sft.yaml for warmup_ratio (a TrainingArguments field
# in the transformers versions LLaMA-Factory supports, <=5.8; 5.24 here folded it into warmup_steps).
LF_ARGS = {
    "model_name_or_path", "adapter_name_or_path", "cache_dir", "trust_remote_code", "quantization_bit",
    "template", "dataset", "eval_dataset", "dataset_dir", "media_dir", "cutoff_len", "train_on_prompt",
    "mask_history", "streaming", "max_samples", "val_size", "packing", "neat_packing", "tool_format",
    "default_system", "preprocessing_num_workers",
    "stage", "finetuning_type", "lora_rank", "lora_alpha", "lora_dropout", "lora_target",
    "loraplus_lr_ratio", "use_rslora", "use_dora", "pissa_init", "freeze_trainable_layers", "plot_loss",
    "warmup_ratio",
}


def _documented() -> set[str]:
    from transformers import Seq2SeqTrainingArguments

    return LF_ARGS | {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)}


@pytest.fixture(scope="module")
def rows() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Real train rows (chit-chat without a system prompt first, LawBench with one later) + an eval split."""
    data = ROOT / "recipes" / "data"
    chit = read_source(SourceSpec(name="c", path="chitchat.sharegpt.json"), base_dir=data).table
    law = read_source(SourceSpec(name="l", path="lawbench_consult.jsonl", format="alpaca",
                                 columns={"prompt": "query", "response": "response", "system": "system"}),
                      base_dir=data).table
    return pl.concat([chit.head(60), law.head(20)]), pl.concat([chit.tail(5), law.tail(5)])


def test_export_names_a_loadable_model_the_eval_split_and_documented_args(tmp_path: Path, rows) -> None:
    train, held_out = rows
    cfg = TrainConfig(model="smollm2-135m", rank=16, max_len=256, max_steps=20, eval_steps=50)
    res = export_llamafactory(train, tmp_path, name="mix", cfg=cfg, eval_df=held_out)
    assert res["datasets"] == {"mix": 80, "mix_eval": 10}
    text = Path(res["train_yaml"]).read_text(encoding="utf-8")
    args = yaml.safe_load(text)
    assert args["model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # not curate's alias
    assert args["template"] == "smollm2"  # the same chat format curate trains with, and the same
    # default system prompt as SmolLM2's own template (LLaMA-Factory's ends with a period)
    assert args["default_system"] == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    assert args["eval_dataset"] == "mix_eval" and args["eval_steps"] == 20  # capped at max_steps
    assert args["lora_rank"] == 16 and args["cutoff_len"] == 256 and args["lora_target"] == "all"
    assert args["lora_alpha"] == 16 and isinstance(args["lora_alpha"], int)  # LLaMA-Factory types it int
    assert Path(args["dataset_dir"]).is_absolute()
    unknown = set(args) - _documented()
    assert not unknown, f"not LLaMA-Factory arguments: {unknown}"


def test_dataset_info_columns_match_the_files(tmp_path: Path, rows) -> None:
    """Every mapped column exists in what ``datasets`` reads, and the role tags are the ones written."""
    datasets = pytest.importorskip("datasets")
    train, held_out = rows
    export_llamafactory(train, tmp_path, name="mix", eval_df=held_out)
    info = json.loads((tmp_path / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"mix", "mix_eval"}
    for name, entry in info.items():
        ds = datasets.load_dataset("json", data_files=str(tmp_path / entry["file_name"]), split="train",
                                   cache_dir=str(tmp_path / "hf"))
        assert set(entry["columns"].values()) <= set(ds.column_names), name
        tags = entry["tags"]
        convs = ds[entry["columns"]["messages"]]
        # LLaMA-Factory's ShareGPT converter skips a conversation unless odd turns are user/observation,
        # even turns assistant/function and the count is even (data/converter.py): none may be skipped
        odd, even = (tags["user_tag"], tags["observation_tag"]), (tags["assistant_tag"], tags["function_tag"])
        for conv in convs:
            roles = [t[tags["role_tag"]] for t in conv]
            assert len(roles) % 2 == 0 and all(r in (odd, even)[i % 2] for i, r in enumerate(roles)), roles
            assert all(isinstance(t[tags["content_tag"]], str) and t[tags["content_tag"]] for t in conv)
        assert all(isinstance(s, str) for s in ds["system"])  # "" where none: LLaMA-Factory reads "" as none
    first = json.loads((tmp_path / "mix.json").read_text(encoding="utf-8"))[0]
    assert first["system"] == "" and first["tools"] == ""


def test_model_reference_for_a_local_folder_and_an_unknown_alias(tmp_path: Path) -> None:
    from curate.errors import InputError

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    ref, notes = model_reference(str(tmp_path / "m"))
    assert ref == str((tmp_path / "m").resolve()) and "local folder" in notes[0]
    assert model_reference("Qwen/Qwen2.5-0.5B-Instruct")[0] == "Qwen/Qwen2.5-0.5B-Instruct"
    with pytest.raises(InputError, match="no Hugging Face id"):
        model_reference(str(tmp_path / "weights.gguf"))


def test_export_refuses_methods_llamafactory_lacks(tmp_path: Path, rows) -> None:
    from curate.errors import InputError

    with pytest.raises(InputError, match="prompt_tuning"):
        export_llamafactory(rows[0], tmp_path, cfg=TrainConfig(method="prompt_tuning"))


def test_adapter_names_the_portable_base_and_loads_with_peft(tmp_path: Path, make_model, tokenizer) -> None:
    """adapter_config.json gets the HF id (what another machine and the Hub load); curate_train.json
    keeps curate's name and the local folder; PeftModel.from_pretrained loads the adapter."""
    from peft import LoraConfig, PeftModel, get_peft_model

    from curate.train.export import save_trained

    model = get_peft_model(make_model(), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_()  # a trained-looking adapter, so loading it changes the logits
    cfg = TrainConfig(model="smollm2-135m")
    out = save_trained(model, tokenizer, tmp_path, cfg, summary={}, manifest=None)
    folder = Path(out["adapter_dir"])
    adapter_cfg = json.loads((folder / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    meta = json.loads((folder / "curate_train.json").read_text())
    assert meta["model"] == "smollm2-135m" and meta["base_model_id"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    from curate.models import local_dir

    assert meta["base_model_local"] == (str(local_dir("smollm2-135m")) if local_dir("smollm2-135m") else None)
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in (folder / "README.md").read_text()
    ids = torch.tensor([[1, 504, 3326, 28, 2115, 9, 260]])
    loaded = PeftModel.from_pretrained(make_model(), str(folder)).eval()
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, model.eval()(input_ids=ids).logits, atol=1e-5)
        assert not torch.allclose(loaded(input_ids=ids).logits, make_model()(input_ids=ids).logits, atol=1e-4)
