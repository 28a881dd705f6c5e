"""The cheaper CPU precisions of ``curate.lm.quant``: bf16 stays close to fp32, leaves the fp32 model
alone, keeps the output head and the rotary frequencies in fp32, and gets its own cache key."""

from __future__ import annotations

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
    # the fp32 model the hub may share is untouched; the copy's head and rotary buffers stay fp32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert bf.get_decoder().layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    assert bf.get_output_embeddings().weight.dtype == torch.float32
    assert all(b.dtype == torch.float32 for _, b in bf.named_buffers())


def test_auto_is_bf16_only_where_native(monkeypatch):
    monkeypatch.setattr(quant, "native_bf16", lambda: True)
    assert quant.resolve("auto", cuda=False) == "bf16"
    assert quant.resolve("auto", cuda=True) is None  # CUDA scorers are bf16 already
    monkeypatch.setattr(quant, "native_bf16", lambda: False)
    assert quant.resolve("auto", cuda=False) is None
    assert quant.resolve(None, cuda=False) is None
    with pytest.raises(ValueError, match="valid: auto"):
        quant.resolve("fp8", cuda=False)


def test_scorer_cache_key_names_the_precision(tiny_lm):
    model, tok = tiny_lm
    fp32 = make_scorer("tiny", model, tok, quantize=None, device="cpu")
    bf16 = make_scorer("tiny", model, tok, quantize="bf16", device="cpu")
    assert fp32.fingerprint != bf16.fingerprint  # cached scores of two precisions never mix
    assert bf16.info["quantize"] == "bf16" and fp32.info["quantize"] is None
    assert next(fp32.model.parameters()).dtype == torch.float32


@pytest.mark.parametrize("native", [True, False])
def test_stage_auto_is_bf16_only_on_native_cpus(tiny_lm, tmp_path, monkeypatch, native):
    from curate.models import ModelHub
    from curate.pipeline.stage import StageContext
    from curate.stages.score.perplexity import Perplexity
    from tests.stages.mix.mixing_samples import law_frame

    monkeypatch.setattr(quant, "native_bf16", lambda: native)
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
