"""After training: the checked merge, the model card, and the LLaMA-Factory export."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from curate.errors import TrainError
from curate.schema import chat_row, frame, text_row
from curate.train import run_training
from curate.train.config import TrainConfig
from curate.train.export import merge, model_card
from curate.train.llamafactory import export_llamafactory

MANIFEST = {
    "name": "demo",
    "sources": [{"name": "chitchat", "license": "MIT", "rows": 48, "domain": "general"}],
    "stages": [{"index": 1, "name": "dedup.minhash", "rows_in": 50, "kept": 48, "removed": 2}],
    "output": {"rows": 48},
}


@pytest.fixture
def trained(tmp_path, small_df, make_model, tokenizer, tok_cache):
    """A tiny base saved as a folder (so merge can load it by path) and a LoRA trained on it."""
    base = tmp_path / "base"
    make_model().save_pretrained(base)
    tokenizer.save_pretrained(base)
    cfg = TrainConfig(
        model=str(base),
        max_steps=3,
        lr=5e-2,
        batch_size=4,
        max_len=128,
        threads=1,
        sample_count=0,
        cache_dir=str(tok_cache),
        save_steps=None,
        tensorboard=False,
        merge=True,
    )
    s = run_training(small_df, None, cfg, tmp_path / "run", tokenizer=tokenizer, manifest=MANIFEST)
    return base, s


def test_merge_is_checked_and_equals_base_plus_adapter(trained, tmp_path):
    base, s = trained
    assert s["merge"]["max_logit_diff"] <= 1e-3  # the automatic merge after training passed its check
    from peft import PeftModel

    ids = torch.tensor([[1, 504, 3326, 28, 2115, 9, 260]])
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), s["adapter_dir"]).eval()
    merged = AutoModelForCausalLM.from_pretrained(s["merge"]["model_dir"]).eval()
    plain = AutoModelForCausalLM.from_pretrained(base).eval()
    with torch.no_grad():
        a, m, p = (x(input_ids=ids).logits for x in (adapted, merged, plain))
    assert torch.allclose(a, m, atol=1e-4)
    assert not torch.allclose(a, p, atol=1e-4)  # the adapter did change the model
    info = merge(tmp_path / "run" / "adapter", tmp_path / "merged2")
    assert info["max_logit_diff"] <= 1e-3 and (tmp_path / "merged2" / "config.json").exists()
    assert "library_name: transformers" in (tmp_path / "merged2" / "README.md").read_text()


def test_merge_refuses_prompt_tuning(tmp_path, small_df, make_model, tokenizer, tok_cache):
    base = tmp_path / "base"
    make_model().save_pretrained(base)
    cfg = TrainConfig(
        model=str(base),
        method="prompt_tuning",
        max_steps=1,
        max_len=128,
        threads=1,
        sample_count=0,
        cache_dir=str(tok_cache),
        save_steps=None,
        tensorboard=False,
    )
    s = run_training(small_df, None, cfg, tmp_path / "run", tokenizer=tokenizer)
    with pytest.raises(TrainError, match="cannot be merged"):
        merge(tmp_path / "run" / "adapter", tmp_path / "merged")
    assert s["adapter_dir"]


def test_model_card_carries_the_data_manifest():
    card = model_card(
        TrainConfig(),
        {"base_eval_loss": 2.5, "final_eval_loss": 2.1, "steps": 30, "dropped": {"too_long": 3}},
        MANIFEST,
        adapter=True,
    )
    # the portable HF id, not curate's alias, so the Hub links the base model
    assert card.startswith("---\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\nlibrary_name: peft\n"
                           "license: MIT")
    assert "| chitchat | MIT | 48 | general |" in card and "| 1 | dedup.minhash | 50 | 48 | 2 |" in card
    assert "2.5" in card and "2.1" in card and "too_long" in card and '"rank": 8' in card


def test_llamafactory_export(tmp_path):
    rows = [
        chat_row([("user", "hi"), ("assistant", "hello")], system="be kind"),
        chat_row(
            [
                ("user", "weather?"),
                ("tool_call", '{"name": "w", "arguments": {}}'),
                ("tool", "sunny"),
                ("assistant", "It is sunny."),
            ],
            tools='[{"name": "w"}]',
        ),
        text_row("A document for continued pretraining."),
    ]
    res = export_llamafactory(frame(rows), tmp_path, name="mix", cfg=TrainConfig(rank=16, max_len=256))
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["mix"]["formatting"] == "sharegpt" and info["mix"]["columns"]["messages"] == "conversations"
    assert info["mix_pt"] == {"file_name": "mix_pt.json", "columns": {"prompt": "text"}}
    data = json.loads((tmp_path / "mix.json").read_text())
    assert [t["from"] for t in data[1]["conversations"]] == ["human", "function_call", "observation", "gpt"]
    assert data[0]["system"] == "be kind" and data[1]["tools"] == '[{"name": "w"}]'
    assert json.loads((tmp_path / "mix_pt.json").read_text()) == [
        {"text": "A document for continued pretraining."}
    ]
    yml = (tmp_path / "train_lora.yaml").read_text()
    assert "lora_rank: 16" in yml and "cutoff_len: 256" in yml and 'lora_target: "all"' in yml
    assert res["datasets"] == {"mix": 2, "mix_pt": 1}
