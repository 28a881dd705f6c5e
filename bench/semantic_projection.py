"""lexical-rp's projection: sklearn's dense Gaussian vs the sparse sign (Kane-Nelson) one (issue 14).

    PYTHONPATH=. nice -n 10 python bench/semantic_projection.py [--per-task 40]

On LawBench queries (first ``per-task`` of each of the 17 tasks) and as many ShareGPT prompts: the
exact cosine of the TF-IDF vectors (rjieba words, sublinear tf, as ``lexical-rp``) against the
cosine after each 1,024-dim projection, over all pairs with exact cosine > 0.5 and over a seeded
sample of all pairs: error mean, std and 99.9th percentile of |error|; plus each projection's
matrix size for the measured vocabulary and CPU seconds to build and apply it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from bench.semantic_data import sharegpt_prompts  # noqa: E402
from curate.embed.lexical import sparse_sign_projection  # noqa: E402
from curate.embed.tokens import segment_all  # noqa: E402
from tests.helpers import lawbench_rows  # noqa: E402


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def main() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.random_projection import GaussianRandomProjection

    ap = argparse.ArgumentParser()
    ap.add_argument("--per-task", type=int, default=40)
    a = ap.parse_args()
    df = lawbench_rows(a.per_task)
    zh = [m[0]["content"] for m in df["messages"].to_list()]
    en = sharegpt_prompts()[: len(zh)]
    for name, texts in (("LawBench (zh)", zh), ("ShareGPT", en)):
        tf = TfidfVectorizer(analyzer=lambda t: t, sublinear_tf=True, dtype=np.float32)
        x = tf.fit_transform(segment_all(texts))
        exact = (x @ x.T).toarray()
        iu = np.triu_indices(len(texts), 1)
        close = exact[iu] > 0.5
        print(f"\n{name}: {len(texts)} texts, vocabulary {x.shape[1]}, "
              f"{int(close.sum())} pairs with cosine > 0.5")
        print("| projection | matrix MB | CPU s | err mean (all) | err std (all) | err std (> 0.5) "
              "| 99.9 % abs err (> 0.5) |")
        print("|---|---|---|---|---|---|---|")
        for proj in ("gaussian (sklearn)", "sparse sign, 8 per feature"):
            c = time.process_time()
            if proj.startswith("gaussian"):
                g = GaussianRandomProjection(1024, random_state=42).fit(x[:1])
                y, mb = g.transform(x), g.components_.nbytes / 2**20
            else:
                p = sparse_sign_projection(x.shape[1], 1024, seed=42)
                y, mb = (x @ p).toarray(), (p.data.nbytes + p.indices.nbytes + p.indptr.nbytes) / 2**20
            secs = time.process_time() - c
            y = unit(np.asarray(y, dtype=np.float32))
            err = (y @ y.T)[iu] - exact[iu]
            print(f"| {proj} | {mb:.0f} | {secs:.2f} | {err.mean():+.4f} | {err.std():.4f} | "
                  f"{err[close].std():.4f} | {np.quantile(np.abs(err[close]), 0.999):.3f} |", flush=True)


if __name__ == "__main__":
    main()
