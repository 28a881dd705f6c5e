"""The loop end to end on a tiny random model: outputs, resume, accumulation, guard, refusals."""

from __future__ import annotations

import itertools
import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file

from curate.errors import TrainError
from curate.schema import frame, text_row
from curate.train import run_training
from curate.train.config import TrainConfig
from curate.train.optim import SpikeGuard, lr_at


@pytest.fixture
def cfg(tok_cache):
    def make(**kw) -> TrainConfig:
        base = {
            "max_len": 128,
            "batch_size": 4,
            "max_steps": 6,
            "lr": 5e-3,
            "threads": 1,
            "sample_count": 1,
            "sample_max_new_tokens": 4,
            "cache_dir": str(tok_cache),
            "save_steps": None,
            "tensorboard": False,
            "eval_max_rows": 8,
        }
        return TrainConfig(**{**base, **kw})

    return make


def adapter_weights(out):
    return load_file(str(out / "adapter" / "adapter_model.safetensors"))


def test_training_lowers_eval_loss_and_writes_everything(tmp_path, cfg, small_df, make_model, tokenizer):
    out = tmp_path / "run"
    s = run_training(
        small_df,
        None,
        cfg(max_steps=12, lr=2e-2, eval_steps=6),
        out,
        model=make_model(),
        tokenizer=tokenizer,
        manifest={
            "name": "t",
            "sources": [{"name": "chitchat", "license": "MIT", "rows": 120, "domain": "general"}],
        },
    )
    assert s["final_eval_loss"] < s["base_eval_loss"]
    assert s["steps"] == 12 and s["train_examples"] + s["eval_rows"] <= small_df.height
    assert s["eval_rows"] == round(0.05 * small_df.height)
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if "loss" in r] == list(range(1, 13))
    assert [r["step"] for r in recs if "eval_loss" in r] == [0, 6, 12]  # base, every 6, final
    assert all(r["tokens_per_s"] > 0 and math.isfinite(r["loss"]) for r in recs if "loss" in r)
    assert (out / "adapter" / "adapter_config.json").exists() and (
        out / "adapter" / "tokenizer.json"
    ).exists()
    assert "{% for message in messages %}" in (out / "adapter" / "chat_template.jinja").read_text()
    card = (out / "adapter" / "README.md").read_text()
    assert "| chitchat | MIT | 120 |" in card and str(s["final_eval_loss"]) in card
    assert json.loads((out / "samples.jsonl").read_text().splitlines()[0])["reference"]
    assert json.loads((out / "summary.json").read_text())["adapter_dir"] == s["adapter_dir"]


def test_resume_continues_exactly(tmp_path, cfg, small_df, make_model, tokenizer):
    out = tmp_path / "run"
    c = cfg(save_steps=3, dropout=0.1)  # dropout: the RNG state must be restored too
    run_training(small_df, None, c, out, model=make_model(), tokenizer=tokenizer)
    straight = adapter_weights(out)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000003", "step-000006"]
    shutil.rmtree(out / "checkpoints" / "step-000006")
    shutil.rmtree(out / "adapter")
    s = run_training(small_df, None, c, out, model=make_model(), tokenizer=tokenizer, resume=True)
    assert s["resumed_from_step"] == 3
    resumed = adapter_weights(out)
    assert straight.keys() == resumed.keys()
    for k in straight:
        assert torch.allclose(straight[k], resumed[k], atol=1e-6), k
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps.count(4) == 2  # step 4 logged by the first run and again after resuming


def test_accumulation_normalises_over_tokens(tmp_path, cfg, small_df, make_model, tokenizer):
    one = tmp_path / "one"
    many = tmp_path / "many"
    run_training(
        small_df,
        None,
        cfg(max_steps=3, micro_batch_tokens=4096),
        one,
        model=make_model(),
        tokenizer=tokenizer,
    )
    run_training(
        small_df, None, cfg(max_steps=3, micro_batch_tokens=64), many, model=make_model(), tokenizer=tokenizer
    )
    a, b = adapter_weights(one), adapter_weights(many)
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_spike_guard_skips_logs_rows_and_stops(tmp_path, cfg, small_df, make_model, tokenizer):
    out = tmp_path / "run"
    c = cfg(lr=1e-9, spike_factor=1.0001, spike_warmup_steps=1, spike_max_skips=2, max_steps=20)
    with pytest.raises(TrainError, match="loss-spike guard"):
        run_training(small_df, None, c, out, model=make_model(), tokenizer=tokenizer)
    skipped = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if '"skipped"' in x]
    assert len(skipped) == 2 and all(len(r["row_ids"]) == 4 for r in skipped)
    assert set(skipped[0]["row_ids"]) <= set(small_df["id"].to_list())


def test_spike_guard_unit():
    g = SpikeGuard(factor=2.0, window=5, warmup=3, max_skips=2)
    assert all(g.check(x) for x in (3.0, 2.5, 2.0))
    assert not g.check(10.0) and not g.check(float("nan"))
    assert g.check(2.2) and list(g.history) == [3.0, 2.5, 2.0, 2.2]


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    lrs = [lr_at(s, total=50, peak=1e-3, warmup=5, floor_ratio=0.1) for s in range(50)]
    assert lrs[0] == pytest.approx(2e-4) and lrs[4] == pytest.approx(1e-3)
    assert all(a >= b for a, b in itertools.pairwise(lrs[4:])) and lrs[-1] == pytest.approx(1e-4)


def test_refuses_when_every_row_is_dropped(tmp_path, cfg, small_df, make_model, tokenizer):
    with pytest.raises(TrainError, match="were dropped"):
        run_training(
            small_df, None, cfg(max_len=8), tmp_path / "run", model=make_model(), tokenizer=tokenizer
        )
    assert (tmp_path / "run" / "dropped.jsonl").read_text().count(
        '"too_long"'
    ) == small_df.height  # train+eval


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_paths_step(tmp_path, cfg, small_df, make_model, tokenizer, precision):
    s = run_training(
        small_df,
        None,
        cfg(precision=precision, max_steps=2, save_steps=2, sample_count=0),
        tmp_path / "run",
        model=make_model(),
        tokenizer=tokenizer,
    )
    assert s["precision"] == {"fp16": "float16", "bf16": "bfloat16"}[precision]
    assert math.isfinite(s["final_eval_loss"]) and s["skipped_steps"] == 0
    state = torch.load(tmp_path / "run" / "checkpoints" / "step-000002" / "state.pt", weights_only=False)
    assert (state["extra"]["scaler"] is not None) == (precision == "fp16")  # dynamic loss scale saved


def test_continued_pretraining_on_documents(tmp_path, cfg, make_model, tokenizer):
    docs = frame(
        [text_row(f"Article {i}. The contract is void when both parties agree. " * 6) for i in range(30)]
    )
    s = run_training(
        docs,
        None,
        cfg(max_steps=4, lr=2e-2, sample_count=0),
        tmp_path / "run",
        model=make_model(),
        tokenizer=tokenizer,
    )
    assert s["text_blocks"] > 0 and s["final_eval_loss"] < s["base_eval_loss"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["full", "freeze", "prompt_tuning", "prefix_tuning", "p_tuning"])
def test_other_methods_train(tmp_path, cfg, small_df, make_model, tokenizer, method):
    s = run_training(
        small_df,
        None,
        cfg(method=method, max_steps=3, sample_count=0),
        tmp_path / "r",
        model=make_model(),
        tokenizer=tokenizer,
    )
    assert math.isfinite(s["final_eval_loss"]) and s["final_eval_loss"] != s["base_eval_loss"]  # it learned
    full = method in ("full", "freeze")  # these save a whole model, the others an adapter
    assert ("model_dir" in s) == full and ("adapter_dir" in s) == (not full)


def test_plora_saves_a_full_model_that_includes_every_cycle(tmp_path, cfg, small_df, make_model, tokenizer):
    from transformers import AutoModelForCausalLM

    s = run_training(
        small_df,
        None,
        cfg(plora_merge_steps=2, max_steps=5, sample_count=0),
        tmp_path / "run",
        model=make_model(),
        tokenizer=tokenizer,
    )
    saved = AutoModelForCausalLM.from_pretrained(s["model_dir"])
    assert not any("lora" in n for n, _ in saved.named_parameters())
    base = make_model().state_dict()
    changed = [k for k, v in saved.state_dict().items() if k in base and not torch.equal(v, base[k])]
    assert any("q_proj" in k for k in changed) and not any("norm" in k for k in changed)


def test_plora_resume_continues_exactly(tmp_path, cfg, small_df, make_model, tokenizer):
    """A checkpoint after a PLoRA merge restores the merged base too: resuming equals not stopping."""
    out = tmp_path / "run"
    c = cfg(plora_merge_steps=2, save_steps=3, max_steps=6, sample_count=0)
    s = run_training(small_df, None, c, out, model=make_model(), tokenizer=tokenizer)
    straight = load_file(str(next(iter((out / "model").glob("*.safetensors")))))
    shutil.rmtree(out / "checkpoints" / "step-000006")
    shutil.rmtree(out / "model")
    s = run_training(small_df, None, c, out, model=make_model(), tokenizer=tokenizer, resume=True)
    assert s["resumed_from_step"] == 3
    resumed = load_file(str(next(iter((out / "model").glob("*.safetensors")))))
    assert straight.keys() == resumed.keys()
    base = make_model().state_dict()
    assert any(not torch.equal(straight[k], base[k]) for k in straight if "q_proj" in k and k in base)
    for k in straight:
        assert torch.allclose(straight[k], resumed[k], atol=1e-6), k


def test_eval_max_rows_caps_a_supplied_eval_split(tmp_path, cfg, small_df, make_model, tokenizer):
    n_eval = small_df.height // 3
    train, held = small_df.slice(n_eval), small_df.slice(0, n_eval)
    assert held.height > 8
    s = run_training(
        train,
        held,
        cfg(max_steps=1, sample_count=0),
        tmp_path / "run",
        model=make_model(),
        tokenizer=tokenizer,
    )
    assert s["eval_rows"] == 8 and s["train_rows"] == train.height
