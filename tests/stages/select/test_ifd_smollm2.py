"""IFD and perplexity with the packaged SmolLM2-135M on real LawBench rows equal the plain
one-row full-logits computation to 1e-4 (slow: loads the real model, ~20 s)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from curate.models import ModelHub
from curate.pipeline.stage import StageContext
from curate.stages.score.perplexity import Perplexity
from curate.stages.select.ifd import SelectIFD
from tests.lm.ifd_reference import reference_scores
from tests.stages.mix.mixing_samples import law_frame


@pytest.mark.slow
def test_smollm2_ifd_and_perplexity_equal_reference(tmp_path):
    law = law_frame().with_columns(
        n=pl.col("messages").list.eval(pl.element().struct.field("content").str.len_chars()).list.sum()
    )
    rows = law.sort("n").unique("task", keep="first", maintain_order=True).head(3).drop("n")
    hub = ModelHub()
    ctx = StageContext(models=hub, cache_dir=tmp_path)
    caps = {"max_tokens": 384, "max_answer_tokens": 128, "quantize": None}  # fp32; short for CI
    ifd = SelectIFD({"max": None, **caps}, ctx=ctx).apply(rows).kept
    ppl = Perplexity(caps, ctx=ctx).apply(rows).kept
    scorer = hub.scorer("smollm2-135m")
    for r, p in zip(ifd.iter_rows(named=True), ppl["score_ppl"], strict=True):
        want, nll, alone = reference_scores(scorer.model, scorer.tokenizer, r, max_answer=128, max_total=384)
        assert r["score_ifd"] == pytest.approx(want, abs=1e-4)
        assert r["score_ifd_nll_alone"] == pytest.approx(alone, abs=1e-4)
        assert p == pytest.approx(math.exp(nll), rel=1e-4)
    assert ifd["score_ifd"].is_between(0.2, 1.5).all()  # a trained model: the prompt helps
