"""Embedders and the embedding cache on real LawBench queries."""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.embed.lexical import LexicalEmbedder
from curate.embed.service import embed_texts, text_keys
from curate.embed.tokens import label_words, words
from curate.models import Embedder, ModelHub
from curate.pipeline.registry import get
from curate.pipeline.stage import StageContext
from tests.helpers import CountingHub


def test_segmentation_is_words_not_characters() -> None:
    assert words("劳动合同法规定用人单位应当支付经济补偿")[:4] == ["劳动", "合同法", "规定", "用人单位"]
    assert "违约金" in label_words("被告应当支付违约金。")
    assert all(len(w) > 1 for w in label_words("他在北京的公司上班。"))


def test_lexical_embedder_is_a_protocol_embedder_with_unit_vectors(law680: pl.DataFrame) -> None:
    texts = law680.select(pl.col("messages").list.first().struct.field("content")).to_series().to_list()
    emb = LexicalEmbedder()
    assert isinstance(emb, Embedder)
    out = embed_texts(texts, emb, cache_dir=None)
    assert out.vectors.shape == (680, 256)
    assert np.allclose(np.linalg.norm(out.vectors, axis=1), 1, atol=1e-3)


def test_fingerprint_hashes_the_fit_corpus_not_its_order() -> None:
    texts = ["劳动合同到期不续签有补偿吗", "公司拖欠工资怎么办", "离婚后孩子抚养权归谁", "交通事故责任认定"]
    a, b, c = LexicalEmbedder(), LexicalEmbedder(), LexicalEmbedder()
    a.fit(texts, text_keys(texts))
    b.fit(texts[::-1], text_keys(texts[::-1]))
    c.fit([*texts, "借款合同纠纷"], text_keys([*texts, "借款合同纠纷"]))
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


def test_second_run_embeds_nothing_and_threshold_changes_do_not_reembed(law680, tmp_path) -> None:
    hub = CountingHub()
    ctx = StageContext(seed=1, models=hub, cache_dir=tmp_path)
    first = get("dedup.semantic")({}, ctx=ctx).apply(law680)
    n_first = sum(hub.encoded)
    assert n_first > 600  # every distinct query once
    assert first.stats["embedding"]["embedded_now"] == n_first
    again = get("dedup.semantic")({}, ctx=ctx).apply(law680)
    other_eps = get("dedup.semantic")({"eps": 0.2}, ctx=ctx).apply(law680)
    assert sum(hub.encoded) == n_first  # nothing embedded twice
    assert again.stats["embedding"]["from_cache"] == 680
    assert again.removed["id"].to_list() == first.removed["id"].to_list()
    assert other_eps.n_removed >= first.n_removed
    vec_files = list(tmp_path.rglob("*.vec.npy"))
    assert vec_files and np.load(vec_files[0], mmap_mode="r").dtype == np.float16


def _nmi(x: np.ndarray, labels: np.ndarray, seeds: int = 3) -> float:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    return float(
        np.mean(
            [
                normalized_mutual_info_score(labels, KMeans(17, n_init=1, random_state=s).fit_predict(x))
                for s in range(seeds)
            ]
        )
    )


def test_default_embedder_nmi_reaches_the_segmented_tfidf_anchor(law680) -> None:
    """The issue's anchor: plain jieba-word TF-IDF + SVD 256 (NMI 0.74 on one seed there). The default
    adds sublinear tf, punctuation tokens and Latin 3-grams; it must not fall below the anchor by
    more than k-means seed noise (0.05 on 3 seeds here; up to 0.09 on single seeds)."""
    import rjieba
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = law680.select(pl.col("messages").list.first().struct.field("content")).to_series().to_list()
    labels = law680["task"].to_numpy()
    toks = [[w for w in rjieba.cut(t) if w.strip()] for t in texts]
    base = TruncatedSVD(256, random_state=0).fit_transform(
        TfidfVectorizer(analyzer=lambda x: x).fit_transform(toks)
    )
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    default = embed_texts(texts, ModelHub().text_embedder("lexical"), cache_dir=None).vectors
    nmi_base, nmi_default = _nmi(base, labels), _nmi(default, labels)
    print(f"NMI on 680 LawBench queries: default {nmi_default:.3f}, segmented TF-IDF anchor {nmi_base:.3f}")
    assert nmi_default >= nmi_base - 0.05, (nmi_default, nmi_base)
    assert nmi_default > 0.5
