"""``score.uncertainty`` on real LawBench rows (Chinese) with a tiny random model (fast)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curate.models import ModelHub
from curate.pipeline.stage import StageContext
from curate.stages.score.uncertainty import PromptUncertainty, drop_units
from tests.lm.reference import reference_nll
from tests.stages.mix.mixing_samples import law_frame

# fp32: equal to the reference computed in the test
UNC_CFG = {"model": "tiny", "k": 3, "max_tokens": 160, "max_answer_tokens": 32, "quantize": None}


def test_drop_units_chinese_characters_and_words():
    rng = np.random.default_rng(1)
    text = "民法商法农民专业合作社法第三十三条的内容是什么？ Answer in one word please"
    out = [drop_units(text, 0.2, rng) for _ in range(200)]
    kept = np.mean([len(o.replace(" ", "")) for o in out]) / len(text.replace(" ", ""))
    assert 0.7 < kept < 0.9  # ~80% of units survive
    assert all("\ufffd" not in o for o in out)  # never a broken character
    assert drop_units(text, 0.0, rng) == text


def test_uncertainty_is_mean_abs_change_of_answer_nll(tiny_lm, tmp_path):
    model, tok = tiny_lm
    df = law_frame().group_by("task", maintain_order=True).head(1).head(3)
    ctx = StageContext(models=ModelHub(preloaded={"tiny": tiny_lm}), cache_dir=tmp_path, seed=7)
    stage = PromptUncertainty(UNC_CFG, ctx=ctx)
    res = stage.apply(df)
    assert res.n_removed == 0 and res.kept.height == 3
    # recompute by hand: the same perturbed rows, scored one at a time with full logits
    from curate.lm.pairs import encode_pairs

    opts = {"max_answer_tokens": 32, "max_tokens": 160}
    base = encode_pairs(df, tok, **opts).cond
    noisy = encode_pairs(stage._perturbed(df), tok, **opts).cond
    for i in range(3):
        m0 = (lambda r: r[0] / r[1])(reference_nll(model, *base[i]))
        mk = [(lambda r: r[0] / r[1])(reference_nll(model, *noisy[3 * i + j])) for j in range(3)]
        assert res.kept["score_uncertainty"][i] == pytest.approx(np.mean(np.abs(np.array(mk) - m0)), abs=1e-5)
    assert set(res.stats["per_task"]) == set(df["task"])
    assert res.kept["score_uncertainty_task"].to_list() == res.kept["score_uncertainty"].to_list()
    # the user turn changed, the system prompt and the answer did not
    pert = stage._perturbed(df)
    assert pert["system"].to_list() == np.repeat(df["system"].to_list(), 3).tolist()
    last = pl.col("messages").list.last().struct.field("content")
    assert pert.select(last).to_series().to_list() == np.repeat(df.select(last).to_series(), 3).tolist()
    # seeded: a second run is all cache hits
    again = PromptUncertainty(UNC_CFG, ctx=ctx)
    assert again.apply(df).stats["passes_computed"] == 0
