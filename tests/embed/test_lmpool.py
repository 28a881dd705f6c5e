"""The packaged causal LM as an embedder (``lm:smollm2-135m``) on 60 real LawBench queries."""

from __future__ import annotations

import numpy as np
import pytest

from curate.embed.lmpool import CausalLMEmbedder, reference_texts
from curate.embed.service import embed_texts
from curate.models import ModelHub
from tests.helpers import CountingHub, lawbench_rows

TASKS = ("1-1", "2-4", "3-8")  # law recitation, topic identification, consultation


def test_registered_name_and_settings() -> None:
    emb = ModelHub().text_embedder("lm:smollm2-135m")
    assert isinstance(emb, CausalLMEmbedder) and emb.name == "lm:smollm2-135m"
    assert emb.settings()["max_tokens"] == 256 and "reference mean" in emb.settings()["centering"]
    assert len(reference_texts()) >= 100  # Chinese and English lines shipped with curate


@pytest.mark.slow
def test_smollm2_pooled_centered_vectors(tmp_path) -> None:
    df = lawbench_rows(20)
    df = df.filter(df["tag_family"].is_in(TASKS))
    texts = [m[0]["content"] for m in df["messages"].to_list()]
    labels = df["tag_family"].to_numpy()
    assert len(texts) == 60

    hub = CountingHub()
    first = embed_texts(texts, hub.text_embedder("lm:smollm2-135m"), cache_dir=tmp_path)
    x = first.vectors
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-3)

    # centered: raw pooled vectors are near-parallel; after centering, cosines spread out
    emb = hub.text_embedder("lm:smollm2-135m")
    raw = emb.pooled(texts[::6])
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    iu = np.triu_indices(len(texts), 1)
    raw_cos = float((raw @ raw.T)[np.triu_indices(len(raw), 1)].mean())
    cos = float((x @ x.T)[iu].mean())
    print(f"mean cosine: raw {raw_cos:.3f}, centered {cos:.3f}")
    assert raw_cos > 0.9 and cos < 0.75  # measured: raw 0.978, standardized 0.568

    # one text, one vector: alone or in a padded, length-sorted batch (float16 cache precision)
    alone = emb.encode([texts[7]])[0]
    assert float(alone @ x[7]) > 0.999

    # the second call is served from the cache: the embedder encodes nothing
    calls = len(hub.encoded)
    again = embed_texts(texts, hub.text_embedder("lm:smollm2-135m"), cache_dir=tmp_path)
    assert len(hub.encoded) == calls and again.stats["embedded_now"] == 0
    assert np.array_equal(again.vectors, x)

    # meaning: the 10 nearest neighbours come mostly from the text's own task (chance is ~1/3)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    nn = np.argpartition(-sims, 10, axis=1)[:, :10]
    purity = float((labels[nn] == labels[:, None]).mean())
    print(f"kNN@10 purity {purity:.3f} (chance {19 / 59:.3f})")
    assert purity > 0.6  # measured 0.758; chance 0.32
