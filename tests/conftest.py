"""Session fixtures shared across test folders.

``tiny_lm``: a tiny random Llama with SmolLM2's real tokenizer, for fast tests that need a model but
not its quality (loads in well under a second; the packaged model takes ~20 s).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _cpu_unless_a_gpu_test(request, monkeypatch):
    """Every test runs on the CPU, as in CI, on a GPU machine too (a scorer would otherwise move the
    session's tiny model to CUDA in bf16 and break the fp32 comparisons); tests marked ``gpu`` see it."""
    if request.node.get_closest_marker("gpu") is None:
        import torch

        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture(scope="session")
def tiny_lm():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from curate.models import load_tokenizer

    tok = load_tokenizer("smollm2-135m")
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(cfg).eval()
    return model, tok
