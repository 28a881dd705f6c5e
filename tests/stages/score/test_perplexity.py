"""``score.perplexity`` and the score cache, on real LawBench rows with a tiny random model (fast)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from curate import schema
from curate.models import ModelHub
from curate.pipeline.stage import StageContext
from curate.stages.score.perplexity import Perplexity
from curate.stages.select.ifd import SelectIFD
from tests.lm.ifd_reference import reference_ppl
from tests.lm.reference import reference_nll
from tests.stages.mix.mixing_samples import law_frame


@pytest.fixture(scope="module")
def law() -> pl.DataFrame:
    return law_frame().group_by("task", maintain_order=True).head(1).head(6)


def _ctx(tiny_lm, cache_dir) -> StageContext:
    return StageContext(models=ModelHub(preloaded={"tiny": tiny_lm}), cache_dir=cache_dir)


def test_perplexity_equals_reference(law, tiny_lm, tmp_path):
    model, tok = tiny_lm
    res = Perplexity(
        {"model": "tiny", "max_answer_tokens": 32, "max_tokens": 128, "quantize": None},
        ctx=_ctx(tiny_lm, tmp_path),
    ).apply(law)
    assert res.n_removed == 0 and res.kept.height == law.height
    for r in res.kept.iter_rows(named=True):
        assert r["score_ppl"] == pytest.approx(
            reference_ppl(model, tok, r, max_answer=32, max_total=128), rel=1e-4
        )
        assert r["score_ppl_tokens"] <= 32 and r["score_ppl_clipped"]


def test_text_rows_and_whole_conversation(tiny_lm, tmp_path):
    model, tok = tiny_lm
    doc = (
        "中华人民共和国刑法第一条：为了惩罚犯罪，保护人民，根据宪法，"
        "结合我国同犯罪作斗争的具体经验及实际情况，制定本法。"
    )
    df = schema.frame([schema.text_row(doc), schema.chat_row([("user", "你好"), ("assistant", "你好！")])])
    ctx = _ctx(tiny_lm, tmp_path)
    got = Perplexity({"model": "tiny", "part": "conversation", "quantize": None}, ctx=ctx).apply(df).kept
    ids = tok(doc, add_special_tokens=False)["input_ids"]
    nll, n = reference_nll(model, [], ids)
    assert got["score_ppl"][0] == pytest.approx(math.exp(nll / n), rel=1e-4)
    whole = tok.apply_chat_template(
        [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"}], tokenize=False
    )
    nll, n = reference_nll(model, [], tok(whole, add_special_tokens=False)["input_ids"])
    assert got["score_ppl"][1] == pytest.approx(math.exp(nll / n), rel=1e-4)


def test_second_run_computes_nothing(law, tiny_lm, tmp_path):
    model, _ = tiny_lm
    calls = []
    hook = model.get_decoder().register_forward_hook(lambda *a: calls.append(1))
    try:
        first = Perplexity({"model": "tiny"}, ctx=_ctx(tiny_lm, tmp_path)).apply(law)
        assert first.stats["passes_computed"] == law.height and calls
        # IFD needs the same conditioned passes: only the answer-alone ones are computed
        calls.clear()
        ifd = SelectIFD({"model": "tiny", "max": None}, ctx=_ctx(tiny_lm, tmp_path)).apply(law)
        assert ifd.stats["passes_cached"] == law.height
        assert ifd.stats["passes_computed"] == law.height
        # a second run, in a fresh hub (as a new process would be): no forward call at all
        calls.clear()
        again = Perplexity({"model": "tiny"}, ctx=_ctx(tiny_lm, tmp_path)).apply(law)
        ifd2 = SelectIFD({"model": "tiny", "max": None}, ctx=_ctx(tiny_lm, tmp_path)).apply(law)
        assert calls == []
        assert again.stats["passes_computed"] == 0 and ifd2.stats["passes_computed"] == 0
        assert np.array_equal(again.kept["score_ppl"].to_numpy(), first.kept["score_ppl"].to_numpy())
        assert np.allclose(np.exp(ifd2.kept["score_ifd_nll"]), first.kept["score_ppl"], rtol=1e-12)
        # another cap is other content: computed again
        calls.clear()
        Perplexity({"model": "tiny", "max_answer_tokens": 8}, ctx=_ctx(tiny_lm, tmp_path)).apply(law)
        assert calls
    finally:
        hook.remove()


def test_other_weights_miss_the_cache(law, tiny_lm, tmp_path):
    import copy

    import torch

    model, tok = tiny_lm
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.lm_head.weight.mul_(1.01)
    a = Perplexity({"model": "tiny"}, ctx=_ctx(tiny_lm, tmp_path)).apply(law.head(2))
    b = Perplexity({"model": "tiny"}, ctx=_ctx((other, tok), tmp_path)).apply(law.head(2))
    assert b.stats["passes_computed"] == 2
    assert a.stats["model_fingerprint"] != b.stats["model_fingerprint"]
