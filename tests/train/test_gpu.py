"""CUDA paths: bf16 and fp16 LoRA, QLoRA (NF4), flash-attention varlen packing. Skipped without a GPU.

Run on a GPU machine: ``pytest tests/train/test_gpu.py -m "slow or not slow" -p no:cacheprovider``.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from curate.train import run_training
from curate.train.config import TrainConfig

HAS_CUDA = torch.cuda.is_available()  # read at import, before the CPU-only fixture patches it


def cuda(fn):
    """A test that needs the GPU: skipped without one, and sees it (``gpu``) when there is one."""
    return pytest.mark.gpu(pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")(fn))


def _cfg(tok_cache, **kw) -> TrainConfig:
    base = {
        "max_steps": 6,
        "batch_size": 8,
        "max_len": 256,
        "lr": 1e-3,
        "eval_max_rows": 16,
        "sample_count": 1,
        "sample_max_new_tokens": 8,
        "save_steps": 3,
        "tensorboard": False,
        "cache_dir": str(tok_cache),
    }
    return TrainConfig(**{**base, **kw})


@cuda
@pytest.mark.parametrize("precision", ["auto", "bf16", "fp16"])
def test_gpu_lora_lowers_loss(tmp_path, chitchat_df, tok_cache, precision):
    s = run_training(
        chitchat_df, None, _cfg(tok_cache, precision=precision), tmp_path / "run", progress=False
    )
    assert s["device"].startswith("cuda") and s["skipped_steps"] == 0
    assert math.isfinite(s["final_eval_loss"]) and s["final_eval_loss"] < s["base_eval_loss"]
    if precision == "auto":
        assert s["precision"] == ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")


@cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_gpu_lora_mechanics_on_a_tiny_model(tmp_path, chitchat_df, tok_cache, tokenizer, precision):
    """The CUDA paths (autocast, fp16's loss scaling, the device moves) without the real weights."""
    from tests.train.conftest import tiny_model

    s = run_training(
        chitchat_df.head(48), None, _cfg(tok_cache, precision=precision, lr=2e-2, max_steps=12),
        tmp_path / "run", model=tiny_model(tokenizer), tokenizer=tokenizer, progress=False,
    )  # fmt: skip
    assert s["device"].startswith("cuda") and s["skipped_steps"] == 0
    assert s["precision"] == {"bf16": "bfloat16", "fp16": "float16"}[precision]
    assert math.isfinite(s["final_eval_loss"]) and s["final_eval_loss"] < s["base_eval_loss"]


@cuda
@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="pip install bitsandbytes")
def test_gpu_qlora(tmp_path, chitchat_df, tok_cache):
    s = run_training(
        chitchat_df, None, _cfg(tok_cache, method="qlora", merge=True), tmp_path / "run", progress=False
    )
    assert s["final_eval_loss"] < s["base_eval_loss"]
    assert s["merge"]["max_logit_diff"] < 0.5  # the adapter was trained on a 4-bit base, merged into fp32


@cuda
@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is None, reason="pip install flash-attn")
def test_gpu_flash_varlen_packing_isolates_examples(tokenizer, chitchat_df, tmp_path):
    from curate.models import load_causal_lm
    from curate.train.batching import collate
    from curate.train.cache import tokenize

    ds = tokenize(chitchat_df.head(8), tokenizer, max_len=256, last_turn_only=False, cache_dir=tmp_path)
    model = load_causal_lm("smollm2-135m", dtype=torch.bfloat16).cuda().eval()
    idx = [0, 1, 2]
    with torch.no_grad():
        alone = [
            model(input_ids=torch.from_numpy(ds.ids(i).astype(np.int64))[None].cuda()).logits[0] for i in idx
        ]
        model.set_attn_implementation("flash_attention_2")
        b = collate(ds, idx, packing=True, pad_id=2, varlen=True).to("cuda")
        packed = model(
            input_ids=b.input_ids,
            position_ids=b.position_ids,
            cu_seq_lens_q=b.cu_seqlens,
            cu_seq_lens_k=b.cu_seqlens,
            max_length_q=b.max_seqlen,
            max_length_k=b.max_seqlen,
            use_cache=False,
        ).logits[0]
    off = 0
    for x in alone:
        assert (
            packed[off : off + len(x)].float() - x.float()
        ).abs().max() < 0.1  # bf16 kernels differ slightly
        off += len(x)
