"""``select.ifd`` on real LawBench and chit-chat rows, with a tiny random model (fast).

The numbers are checked against ``tests/lm/ifd_reference.py`` (template by hand, one row at a time,
full logits); the real SmolLM2 check is ``tests/stages/select/test_ifd_smollm2.py`` (slow).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curate.models import ModelHub
from curate.pipeline.stage import StageContext
from curate.stages.select.ifd import SelectIFD
from tests.lm.ifd_reference import reference_scores
from tests.stages.mix.mixing_samples import chitchat_frame, law_frame


@pytest.fixture(scope="module")
def rows() -> pl.DataFrame:
    law = law_frame().group_by("task", maintain_order=True).head(2).head(8)
    chat = chitchat_frame().head(2)
    return pl.concat([law, chat], how="diagonal_relaxed")


@pytest.fixture
def ctx(tiny_lm, tmp_path) -> StageContext:
    return StageContext(models=ModelHub(preloaded={"tiny": tiny_lm}), cache_dir=tmp_path)


def _cfg(**kw):
    return {"model": "tiny", "max": None, "quantize": None, **kw}  # fp32: equal to the reference


def test_scores_equal_reference(rows, ctx, tiny_lm):
    model, tok = tiny_lm
    res = SelectIFD(_cfg(max_answer_tokens=64, max_tokens=200), ctx=ctx).apply(rows)
    assert res.n_removed == 0
    for r in res.kept.iter_rows(named=True):
        ifd, nll, alone = reference_scores(model, tok, r, max_answer=64, max_total=200)
        assert r["score_ifd"] == pytest.approx(ifd, abs=1e-4)
        assert r["score_ifd_nll"] == pytest.approx(nll, abs=1e-4)
        assert r["score_ifd_nll_alone"] == pytest.approx(alone, abs=1e-4)
    assert res.kept["score_ifd_clipped"].any()  # LawBench system prompts exceed 200 tokens
    assert (res.kept["score_ifd_tokens"] <= 64).all()
    assert res.stats["caps"]["max_tokens"] == 200


def test_max_and_top_fraction_per_task(rows, ctx):
    res = SelectIFD(_cfg(max=1.0, top_fraction=0.5, by="task", keep_unscored=True), ctx=ctx).apply(rows)
    assert res.kept.height + res.n_removed == rows.height
    r = res.removed
    high = r.filter(pl.col("reason") == "above_max")
    assert (high["value"] >= 1.0).all() and (high["threshold"] == "1.0").all()
    assert (res.kept["score_ifd"].drop_nulls() < 1.0).all()
    assert set(r["reason"]) <= {"above_max", "not_top"}
    for (task,), g in res.kept.group_by("task"):
        if task is not None:
            assert g.height <= -(-rows.filter(pl.col("task") == task).height // 2)


def test_ratio_perplexity_is_exp_of_the_difference(rows, ctx):
    loss = SelectIFD(_cfg(), ctx=ctx).apply(rows).kept
    ppl = SelectIFD(_cfg(ratio="perplexity"), ctx=ctx).apply(rows).kept
    expect = np.exp(loss["score_ifd_nll"] - loss["score_ifd_nll_alone"])
    assert np.allclose(ppl["score_ifd"].to_numpy(), expect.to_numpy(), atol=1e-9)
    # the same rows at or above 1 either way
    assert ((loss["score_ifd"] >= 1) == (ppl["score_ifd"] >= 1)).all()


def test_all_turns_sum_every_assistant_turn(rows, ctx):
    chat = rows.filter(pl.col("source") == "chitchat")
    last = SelectIFD(_cfg(turns="last"), ctx=ctx).apply(chat).kept
    every = SelectIFD(_cfg(turns="all"), ctx=ctx).apply(chat).kept
    n_turns = chat["messages"].list.eval(pl.element().struct.field("role") == "assistant").list.sum()
    assert (n_turns > 1).all()
    assert (every["score_ifd_tokens"] > last["score_ifd_tokens"]).all()


def test_plain_render_scores_without_template(rows, ctx):
    uncapped = {"max_answer_tokens": None, "max_tokens": None}
    res = SelectIFD(_cfg(render="plain", **uncapped), ctx=ctx).apply(rows.head(3)).kept
    chat = SelectIFD(_cfg(**uncapped), ctx=ctx).apply(rows.head(3)).kept
    assert res["score_ifd"].is_not_null().all()
    # no <|im_end|> in the plain answer: fewer tokens than the templated turn
    assert (res["score_ifd_tokens"] < chat["score_ifd_tokens"]).all()


def test_rows_without_answer_are_removed_unscored(ctx):
    from curate import schema

    df = schema.frame([schema.chat_row([("user", "只有问题？")]), schema.text_row("刑法第一条")])
    res = SelectIFD(_cfg(), ctx=ctx).apply(df)
    assert res.removed["reason"].to_list() == ["no_score"]
    assert res.kept["kind"].to_list() == ["text"]


def test_documents_pass_through_unscored_and_uncounted(ctx):
    """A document has no instruction: its IFD would be 1 by construction, and the default ``max: 1``
    removed every law article of a mixed recipe. Now documents are neither scored nor counted."""
    from tests.stages.mix.mixing_samples import law_text_frame

    qa = law_frame().group_by("task", maintain_order=True).head(1).head(6)
    docs = law_text_frame().head(5)
    df = pl.concat([qa, docs], how="diagonal_relaxed")
    res = SelectIFD(_cfg(max=1.0, top_fraction=0.5), ctx=ctx).apply(df)
    assert res.kept.height + res.n_removed == df.height
    kept_docs = res.kept.filter(pl.col("kind") == "text")
    assert kept_docs.height == docs.height and kept_docs["score_ifd"].is_null().all()
    assert res.stats["passes"] == 2 * qa.height  # only the QA rows took model passes
    assert 0 < res.kept.filter(pl.col("kind") == "chat").height <= 3  # the quota: half of 6 scored rows
    assert set(res.removed["id"]) <= set(qa["id"])


def test_where_scores_and_selects_only_matching_rows(ctx):
    qa = law_frame().group_by("task", maintain_order=True).head(1).head(4)
    chat = chitchat_frame().head(3)
    df = pl.concat([qa, chat], how="diagonal_relaxed")
    res = SelectIFD(_cfg(top_n=1, where={"source": "lawqa"}), ctx=ctx).apply(df)
    assert res.stats["passes"] == 2 * qa.height
    kept_chat = res.kept.filter(pl.col("source") == "chitchat")
    assert kept_chat.height == 3 and kept_chat["score_ifd"].is_null().all()
    assert res.kept.filter(pl.col("source") == "lawqa").height == 1
    assert set(res.removed["reason"]) == {"not_top"} and res.n_removed == 3
    assert res.stats["passed_outside_where"] == 3


def test_where_names_a_missing_column(ctx):
    from curate.errors import StageError

    with pytest.raises(StageError, match="nope"):
        SelectIFD(_cfg(where={"nope": 1}), ctx=ctx).apply(law_frame().head(2))
