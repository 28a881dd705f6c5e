"""What is trained: LoRA starts at the base model, its variants, freeze-tuning, PLoRA, QLoRA on CPU."""

from __future__ import annotations

import copy

import pytest
import torch

from curate.errors import TrainError
from curate.train.config import TrainConfig
from curate.train.lora import lora_layers, param_groups, plora_merge, prepare, trainable_counts

IDS = torch.tensor([[1, 504, 3326, 28, 2115, 9, 260, 4830, 42, 7]])


def logits(model):
    with torch.no_grad():
        return model(input_ids=IDS, use_cache=False).logits


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"lora_init": "gaussian"},
        {"rslora": True},
        {"dora": True},
        {"target_modules": ["q_proj", "v_proj"]},
    ],
)
def test_lora_starts_exactly_at_the_base_model(make_model, opts):
    base = make_model()
    ref = logits(base)
    model = prepare(copy.deepcopy(base), TrainConfig(**opts))
    assert torch.equal(logits(model), ref)
    a = [layer.lora_A["default"].weight for layer in lora_layers(model)]
    b = [layer.lora_B["default"].weight for layer in lora_layers(model)]
    assert all(bool(w.abs().sum() > 0) for w in a) and all(bool((w == 0).all()) for w in b)
    counts = trainable_counts(model)
    assert 0 < counts["trainable_params"] < counts["total_params"] // 10


def test_pissa_starts_near_the_base_model(make_model):
    base = make_model()
    model = prepare(copy.deepcopy(base), TrainConfig(lora_init="pissa"))
    assert torch.allclose(logits(model), logits(base), atol=1e-3)
    assert any(bool(layer.lora_B["default"].weight.abs().sum() > 0) for layer in lora_layers(model))


def test_loraplus_gives_b_its_own_learning_rate(make_model):
    model = prepare(make_model(), TrainConfig(loraplus_lr_ratio=16))
    groups = param_groups(model, TrainConfig(loraplus_lr_ratio=16))
    scales = {g["lr_scale"] for g in groups}
    assert scales == {1.0, 16.0}
    b_ids = {id(layer.lora_B["default"].weight) for layer in lora_layers(model)}
    fast = [p for g in groups if g["lr_scale"] == 16.0 for p in g["params"]]
    assert {id(p) for p in fast} == b_ids


def test_plora_merge_keeps_the_function_and_restarts_the_adapter(make_model):
    model = prepare(make_model(), TrainConfig())
    with torch.no_grad():
        for layer in lora_layers(model):
            layer.lora_B["default"].weight.normal_(0, 0.05)
    before = logits(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    n = plora_merge(model, opt)
    assert n == len(lora_layers(model)) > 0
    assert torch.allclose(logits(model), before, atol=1e-5)
    assert all(bool((layer.lora_B["default"].weight == 0).all()) for layer in lora_layers(model))


def test_freeze_trains_only_the_last_blocks(make_model):
    model = prepare(make_model(layers=3), TrainConfig(method="freeze", freeze_trainable_layers=1))
    trainable = {n.split(".")[2] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"2"}  # model.layers.2.*


def test_full_trains_everything(make_model):
    model = prepare(make_model(), TrainConfig(method="full"))
    assert all(p.requires_grad for p in model.parameters())


def test_qlora_on_cpu_is_a_clear_error():
    from curate.train.lora import load_base

    with pytest.raises(TrainError, match="CUDA"):
        load_base(TrainConfig(method="qlora"), torch.device("cpu"), torch.float32)


@pytest.mark.parametrize("method", ["prompt_tuning", "prefix_tuning", "p_tuning"])
def test_prompt_methods_train_only_virtual_tokens(make_model, method):
    model = prepare(make_model(), TrainConfig(method=method, num_virtual_tokens=4))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("prompt_encoder" in n for n in names)


def test_incompatible_options_are_rejected():
    with pytest.raises(ValueError, match="plora"):
        TrainConfig(plora_merge_steps=10, dora=True)
    with pytest.raises(ValueError):
        TrainConfig(unknown_knob=1)
