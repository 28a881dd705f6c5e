"""mix.into_pretraining: chat rows become documents at the target share, with provenance."""

from __future__ import annotations

import polars as pl
import pytest

from curate.errors import StageError
from curate.pipeline.stage import StageContext
from curate.stages.mix.pretrain import MixIntoPretraining
from tests.stages.mix.mixing_samples import law_text_frame


@pytest.fixture(scope="module")
def corpus_and_chat(chat: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([law_text_frame(), chat])


def test_rows_share_and_provenance(corpus_and_chat: pl.DataFrame, chat: pl.DataFrame):
    res = MixIntoPretraining({"share": 0.25, "unit": "examples"}, ctx=StageContext(seed=3)).apply(
        corpus_and_chat
    )
    assert set(res.kept["kind"]) == {"text"}
    docs = res.kept.filter(pl.col("tag_chat_id").is_not_null())
    assert docs.height == round(136 * 0.25 / 0.75)  # 45 of 60 conversations
    assert res.n_removed == 60 - docs.height and set(res.removed["reason"]) == {"mix_downsampled"}
    assert set(res.removed["kind"]) == {"chat"}  # removed rows are the input rows as they came
    src = dict(zip(chat["id"], chat["origin"], strict=True))
    for row in docs.head(5).iter_rows(named=True):
        assert row["origin"] == src[row["tag_chat_id"]]
        assert row["text"].startswith("User: ") and "\n\nAssistant: " in row["text"]
        assert row["id"] != row["tag_chat_id"]
    assert res.stats["share_achieved"] == pytest.approx(0.25, abs=0.01)


def test_token_share_with_chat_template(corpus_and_chat: pl.DataFrame, ctx: StageContext):
    cfg = {"share": 0.4, "unit": "tokens", "template": "chat_template"}
    res = MixIntoPretraining(cfg, ctx=ctx).apply(corpus_and_chat)
    docs = res.kept.filter(pl.col("tag_chat_id").is_not_null())
    assert docs["text"].str.starts_with("<|im_start|>user\n").all()
    total = res.kept["score_tokens_rendered"].sum()
    share = docs["score_tokens_rendered"].sum() / total
    assert share == pytest.approx(0.4, abs=docs["score_tokens_rendered"].max() / total)
    assert res.kept.height + res.n_removed == corpus_and_chat.height + res.added


def test_needs_a_text_corpus(chat: pl.DataFrame):
    with pytest.raises(StageError, match="kind=text"):
        MixIntoPretraining({"unit": "examples"}).apply(chat)


def test_never_repeats_unless_asked_and_says_what_it_achieved(corpus_and_chat: pl.DataFrame):
    # 60 conversations cannot be 80 % of 136 documents + them: the default uses each once and warns
    res = MixIntoPretraining({"share": 0.8, "unit": "examples"}, ctx=StageContext(seed=3)).apply(
        corpus_and_chat
    )
    docs = res.kept.filter(pl.col("tag_chat_id").is_not_null())
    assert res.added == 0 and docs.height == 60 and docs["tag_chat_id"].n_unique() == 60
    assert res.stats["share_achieved"] == pytest.approx(60 / 196, abs=1e-3)
    assert len(res.warnings) == 1
    assert "achieved an instruction share of 0.306 instead of 0.8" in res.warnings[0]
    assert res.stats["warnings"] == res.warnings  # the runner copies StageResult.warnings to the manifest

    asked = MixIntoPretraining(
        {"share": 0.8, "unit": "examples", "max_copies_per_row": 3}, ctx=StageContext(seed=3)
    ).apply(corpus_and_chat)
    assert asked.added > 0 and asked.kept.height == corpus_and_chat.height + asked.added
    assert any("are repeats (max_copies_per_row=3)" in w for w in asked.warnings)
