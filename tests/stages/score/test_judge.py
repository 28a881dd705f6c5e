"""``score.judge`` (local model) on real LawBench rows with a tiny random model (fast)."""

from __future__ import annotations

import numpy as np
import pytest

from curate.models import ModelHub
from curate.pipeline.stage import StageContext
from curate.stages.score.judge import Judge
from tests.stages.mix.mixing_samples import law_frame


@pytest.fixture(scope="module")
def law():
    return law_frame().group_by("task", maintain_order=True).head(1).head(4)


def test_expectation_over_digit_probabilities(law, tiny_lm):
    import torch

    model, tok = tiny_lm
    stage = Judge(
        {"model": "tiny", "max_tokens": 256}, ctx=StageContext(models=ModelHub(preloaded={"tiny": tiny_lm}))
    )
    res = stage.apply(law)
    assert res.kept.height + res.n_removed == law.height
    ctxs = stage._contexts(law, tok)
    assert all(len(c) <= 256 for c in ctxs)
    assert tok.decode(ctxs[0][-4:]).endswith("Rating: ")
    digits = [tok(str(d), add_special_tokens=False)["input_ids"][0] for d in range(1, 6)]
    for i, row in enumerate(res.kept.iter_rows(named=True)):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ctxs[i]])).logits[0, -1].double()
        p = torch.softmax(logits, -1)[digits].numpy()
        assert row["score_judge_mass"] == pytest.approx(p.sum(), rel=1e-4)
        assert row["score_judge"] == pytest.approx((p * np.arange(1, 6)).sum() / p.sum(), rel=1e-4)
        assert 1 <= row["score_judge"] <= 5


def test_unparsable_rows_are_removed_with_reason(law, tiny_lm):
    ctx = StageContext(models=ModelHub(preloaded={"tiny": tiny_lm}))
    res = Judge({"model": "tiny", "min_mass": 1.0, "rubric": "complexity"}, ctx=ctx).apply(law)
    assert res.kept.height == 0 and res.n_removed == law.height
    assert set(res.removed["reason"]) == {"judge_unparsable"}
    assert (res.removed["value"] < 1.0).all() and set(res.removed["threshold"]) == {"1.0"}


def test_judge_probabilities_are_cached_as_one_token_answers(law, tiny_lm, tmp_path):
    """A re-run computes nothing and gives the same floats; the entries are what ``answer_nll``
    would store for a one-token answer (the digit), so they mean the same in the shared cache."""
    from curate.lm.cache import ScoreCache, pair_key

    hub = ModelHub(preloaded={"tiny": tiny_lm})
    cfg = {"model": "tiny", "max_tokens": 256, "min_mass": 0.0}
    first = Judge(cfg, ctx=StageContext(models=hub, cache_dir=tmp_path)).apply(law)
    again = Judge(cfg, ctx=StageContext(models=hub, cache_dir=tmp_path)).apply(law)
    assert first.stats["passes_computed"] == law.height and first.stats["passes_cached"] == 0
    assert again.stats["passes_computed"] == 0 and again.stats["passes_cached"] == law.height
    assert again.kept.equals(first.kept)
    scorer = hub.scorer("tiny")
    ctx0 = Judge(cfg)._contexts(law.head(1), scorer.tokenizer)[0]
    one = scorer.tokenizer("3", add_special_tokens=False)["input_ids"]
    nll, tok, hit = ScoreCache(tmp_path, scorer.fingerprint).get([pair_key(ctx0, one)])
    res = scorer.answer_nll([(ctx0, one)], cache_dir=None)
    assert hit[0] and tok[0] == 1 and nll[0] == pytest.approx(res.nll[0], rel=1e-5)
