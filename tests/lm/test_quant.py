"""The cheaper CPU precisions of ``curate.lm.quant``: bf16 stays close to fp32, leaves the fp32 model
alone, keeps the output head and the rotary frequencies in fp32, and gets its own cache key."""

from __future__ import annotations

import os

import pytest
import torch

from curate.lm import answer_nll, make_scorer, quant
from tests.lm.reference import reference_nll
from tests.lm.test_likelihood import _rows


def test_bf16_scores_close_to_fp32_reference(tiny_lm):
    model, tok = tiny_lm
    rows = _rows(tok)
    bf = quant.apply_variant(model, "bf16")
    got = answer_nll(bf, rows, threads=1, share_prefix=4)
    for i, (c, a) in enumerate(rows):
        ref, n = reference_nll(model, c, a)
        assert got.tokens[i] == n
        assert got.nll[i] == pytest.approx(ref, rel=2e-2, abs=2e-2)  # bf16: ~3 significant digits
    # the fp32 model the hub may share is untouched; the copy's head is bf16, its rotary buffers fp32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert bf.get_decoder().layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    assert bf.get_output_embeddings().weight.dtype == torch.bfloat16  # 2.7x faster than fp32
    assert all(b.dtype == torch.float32 for _, b in bf.named_buffers())


def test_bf16_head_scores_the_target_logit_in_fp32(tiny_lm):
    """A bf16 head rounds logits of 16-32 by up to 0.06; the target's and the largest logit are
    recomputed in fp32, so the NLL stays near fp32 arithmetic on the same bf16 operands (with bf16
    logits alone this fails: 680.63 against 680.72 +- 0.07)."""
    import copy

    model, tok = tiny_lm
    m = copy.deepcopy(model)
    m.config.tie_word_embeddings = False
    head = torch.nn.Linear(64, m.config.vocab_size, bias=False)
    head.weight = torch.nn.Parameter((m.lm_head.weight.detach() * 16).to(torch.bfloat16), requires_grad=False)
    m.lm_head = head
    rows = [r for r in _rows(tok) if r[0] and r[1]]
    got = answer_nll(m, rows, threads=1, share_prefix=None)
    with torch.no_grad():
        for i, (c, a) in enumerate(rows):
            h = m.model(input_ids=torch.tensor([[*c, *a]])).last_hidden_state[0, len(c) - 1 : -1]
            logits = h.to(torch.bfloat16).float() @ head.weight.float().T  # exact on bf16 operands
            assert logits.abs().max() > 16  # where bf16 rounding is >= 0.06
            target = logits.gather(1, torch.tensor(a)[:, None])[:, 0]
            want = float((torch.logsumexp(logits, -1) - target).sum())
            assert got.nll[i] == pytest.approx(want, abs=2e-3 * len(a))


def test_sdpa_gqa_is_set_for_the_block_only(monkeypatch):
    from curate.lm.likelihood import sdpa_gqa

    monkeypatch.delenv("TRANSFORMERS_SDPA_FORCE_GQA", raising=False)
    with sdpa_gqa(True):
        assert os.environ["TRANSFORMERS_SDPA_FORCE_GQA"] == "1"
    assert "TRANSFORMERS_SDPA_FORCE_GQA" not in os.environ
    with sdpa_gqa(False):  # CUDA: its fused kernels refuse masked GQA, leave transformers' choice
        assert "TRANSFORMERS_SDPA_FORCE_GQA" not in os.environ


def test_auto_is_bf16_only_where_native(monkeypatch):
    monkeypatch.setattr(quant, "native_bf16", lambda: True)
    assert quant.resolve("auto", cuda=False) == "bf16"
    assert quant.resolve("auto", cuda=True) is None  # CUDA scorers are bf16 already
    monkeypatch.setattr(quant, "native_bf16", lambda: False)
    assert quant.resolve("auto", cuda=False) is None
    assert quant.resolve(None, cuda=False) is None
    with pytest.raises(ValueError, match="valid: auto"):
        quant.resolve("fp8", cuda=False)


def test_scorer_cache_key_names_the_precision(tiny_lm, monkeypatch):
    model, tok = tiny_lm
    fp32 = make_scorer("tiny", model, tok, quantize=None, device="cpu")
    bf16 = make_scorer("tiny", model, tok, quantize="bf16", device="cpu")
    assert fp32.fingerprint != bf16.fingerprint  # cached scores of two precisions never mix
    assert bf16.info["quantize"] == "bf16" and fp32.info["quantize"] is None
    # the bf16 head changed bf16's numbers: its key names that, so older bf16 scores are not reused
    assert quant.CACHE_TAG["bf16"] != "bf16"
    monkeypatch.setitem(quant.CACHE_TAG, "bf16", "bf16")
    assert make_scorer("tiny", model, tok, quantize="bf16", device="cpu").fingerprint != bf16.fingerprint
    assert next(fp32.model.parameters()).dtype == torch.float32


@pytest.mark.parametrize("native", [True, False])
def test_stage_auto_is_bf16_only_on_native_cpus(tiny_lm, tmp_path, monkeypatch, native):
    from curate.models import ModelHub
    from curate.pipeline.stage import StageContext
    from curate.stages.score.perplexity import Perplexity
    from tests.stages.mix.mixing_samples import law_frame

    monkeypatch.setattr(quant, "native_bf16", lambda: native)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # the CPU choice, on a GPU machine too
    law = law_frame().head(4)
    ctx = StageContext(models=ModelHub(preloaded={"tiny": tiny_lm}), cache_dir=tmp_path)
    caps = {"model": "tiny", "max_answer_tokens": 32, "max_tokens": 128}
    auto = Perplexity(caps, ctx=ctx).apply(law)  # the default: auto
    fp32 = Perplexity({**caps, "quantize": None}, ctx=ctx).apply(law)
    same_key = auto.stats["model_fingerprint"] == fp32.stats["model_fingerprint"]
    assert same_key is not native  # bf16 scores are cached apart from fp32's
    a, b = auto.kept["score_ppl"].to_numpy(), fp32.kept["score_ppl"].to_numpy()
    assert a == pytest.approx(b, rel=2e-2)
    assert (a != b).any() if native else (a == b).all()
