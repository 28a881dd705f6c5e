"""Recall and precision of MinHash dedup against exact all-pairs Jaccard on a 5k-document sample.

The sample: 1,000 (document, real near-duplicate) pairs from the corpus plus 3,000 other random
corpus documents (natural duplicates among them stay). Truth: the exact Jaccard of every pair of
shingle sets (``peers/common.py_shingles``, the definition rensa and datasketch are fed; curate's
compiled shingler implements the same rule), computed as a sparse product. Metrics, for a tool's
output (the pairs it found, and each removed document with the survivor it was merged into):

* pair recall: true pairs (J >= t) connected by the pairs the tool found (a group of identical
  copies is found as a star, so direct pairs alone would undercount);
* pair precision: pairs the tool found that are true pairs;
* doc recall / precision: the same over documents in at least one pair;
* removal precision: removed documents whose exact Jaccard to their named survivor is >= t
  (connected components can chain below t);
* true pairs left: true pairs with both documents still in the output.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import polars as pl
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from common import py_shingles


def build_sample(corpus: Path, out: Path, *, pairs: int = 1000, total: int = 5000, seed: int = 0) -> Path:
    df = pl.read_parquet(corpus).select("id", "origin", "text")
    origins = df["origin"].to_list()
    near = [o for o in origins if o.endswith(":near_dup")]
    rng = random.Random(seed)
    chosen = rng.sample(near, pairs)
    keep = set(chosen) | {o.rsplit(":", 1)[0] for o in chosen}
    rest = [o for o in origins if o not in keep]
    keep |= set(rng.sample(rest, total - len(keep)))
    sample = df.filter(pl.col("origin").is_in(sorted(keep))).sample(fraction=1.0, shuffle=True, seed=seed)
    sample.write_ndjson(out)
    return out


def truth(sample: Path, threshold: float) -> tuple[int, dict[tuple[int, int], float]]:
    texts = pl.read_ndjson(sample)["text"].to_list()
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for k, t in enumerate(texts):
        for s in set(py_shingles(t)):
            rows.append(k)
            cols.append(vocab.setdefault(s, len(vocab)))
    x = csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(texts), len(vocab)))
    size = np.asarray(x.sum(axis=1)).ravel()
    inter = (x @ x.T).tocoo()
    m = inter.row < inter.col
    a, b, c = inter.row[m], inter.col[m], inter.data[m]
    jac = c / (size[a] + size[b] - c)
    return len(texts), {(int(i), int(j)): float(s) for i, j, s in zip(a, b, jac, strict=True)}


def score(n: int, jac: dict[tuple[int, int], float], found: list, removed: list, threshold: float) -> dict:
    """Detection metrics from ``found`` pairs; removal metrics from ``removed`` (row, survivor) pairs."""
    true_pairs = {p for p, s in jac.items() if s >= threshold}
    true_docs = {d for p in true_pairs for d in p}
    found_pairs = {(min(a, b), max(a, b)) for a, b in found}
    flagged = {d for p in found_pairs for d in p}
    ij = np.array(sorted(found_pairs), dtype=np.int64).reshape(-1, 2)
    graph = csr_matrix((np.ones(len(ij)), (ij[:, 0], ij[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    gone = {r for r, _ in removed}
    left = sum(a not in gone and b not in gone for a, b in true_pairs)
    ok = sum(jac.get((min(r, s), max(r, s)), 0.0) >= threshold for r, s in removed)
    return {
        "true_pairs": len(true_pairs),
        "pair_recall": sum(label[a] == label[b] for a, b in true_pairs) / max(1, len(true_pairs)),
        "pair_precision": len(found_pairs & true_pairs) / max(1, len(found_pairs)),
        "doc_recall": len(flagged & true_docs) / max(1, len(true_docs)),
        "doc_precision": len(flagged & true_docs) / max(1, len(flagged)),
        "removed": len(removed),
        "removal_precision": ok / max(1, len(removed)),
        "true_pairs_left": left,
    }


def evaluate(sample: Path, outputs: dict[str, Path], threshold: float) -> dict[str, dict]:
    """``outputs``: tool -> folder holding its pairs.json and removed.json."""
    n, jac = truth(sample, threshold)
    return {
        tool: score(
            n,
            jac,
            json.loads((d / "pairs.json").read_text()),
            json.loads((d / "removed.json").read_text()),
            threshold,
        )
        for tool, d in outputs.items()
    }
