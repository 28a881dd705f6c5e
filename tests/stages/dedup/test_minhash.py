"""dedup.minhash on real documents: recall/precision against brute-force Jaccard, survivors, scope, seeds."""

from __future__ import annotations

import itertools
import json
import random
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from curate.pipeline.registry import get
from curate.pipeline.stage import StageContext
from curate.schema import chat_row, frame, text_row
from curate.text.lsh import jaccard_pairs, optimal_bands
from curate.text.shingles import shingle_hashes

DATA = Path(__file__).resolve().parents[2] / "data" / "dedup" / "real_docs.jsonl"
CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)


def real_docs() -> list[dict]:
    return [json.loads(line) for line in DATA.read_text("utf-8").splitlines()]


def drop_a_sentence(text: str, rng: random.Random) -> str | None:
    """A real near-duplicate: the same document with one real sentence deleted."""
    sents = [s for s in re.split(r"(?<=[。！？；.!?])\s*", text) if s.strip()]
    if len(sents) < 6:
        return None
    del sents[rng.randrange(len(sents))]
    return ("" if CJK.search(text) else " ").join(sents)


def corpus() -> list[dict]:
    docs = real_docs()
    rng = random.Random(3)
    rows = [text_row(d["text"], source=d["source"], origin=d["origin"]) for d in docs]
    for d in docs:
        v = drop_a_sentence(d["text"], rng)
        if v:
            rows.append(text_row(v, source=d["source"], origin=d["origin"] + ":near"))
    return rows


def ref_shingles(text: str, *, word_n: int = 5, char_n: int = 4, share: float = 0.3) -> set[tuple]:
    """Plain-Python statement of the shingle definition (per-character NFKC, lowercase, classes)."""
    chars = []
    for ch in text:
        f = unicodedata.normalize("NFKC", ch).lower()
        chars.append(f if len(f) == 1 else ch)
    kinds = [
        "cjk" if CJK.match(c) else "word" if unicodedata.category(c)[0] in "LNM" or c == "_" else "sep"
        for c in chars
    ]
    letters = sum(k != "sep" for k in kinds)
    as_char = letters > 0 and kinds.count("cjk") >= share * letters
    toks: list[str] = []
    cur = ""
    for c, k in zip(chars, kinds, strict=True):
        if k == "word" and not as_char:
            cur += c
            continue
        if cur:
            toks.append(cur)
            cur = ""
        if k != "sep":
            toks.append(c)
    if cur:
        toks.append(cur)
    n = char_n if as_char else word_n
    if not toks:
        return set()
    if len(toks) < n:
        return {tuple(toks)}
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def brute_force(texts: list[str]) -> dict[tuple[int, int], float]:
    sets = [ref_shingles(t) for t in texts]
    out = {}
    for a, b in itertools.combinations(range(len(sets)), 2):
        if sets[a] and sets[b]:
            inter = len(sets[a] & sets[b])
            if inter:
                out[(a, b)] = inter / len(sets[a] | sets[b])
    return out


@pytest.fixture(scope="module")
def real() -> tuple[list[dict], dict[tuple[int, int], float]]:
    rows = corpus()
    return rows, brute_force([r["text"] for r in rows])


def run(rows: list[dict], seed: int = 7, **cfg: object):
    df = frame(rows)
    res = get("dedup.minhash")(cfg, ctx=StageContext(seed=seed)).apply(df)
    assert res.kept.height + res.removed.height == df.height
    return res


def test_shingles_match_the_plain_definition(real) -> None:
    rows, truth = real
    texts = [r["text"] for r in rows]
    hashes, offsets, mode = shingle_hashes(frame(rows)["text"], seed=5)
    sizes = [len(np.unique(hashes[offsets[d] : offsets[d + 1]])) for d in range(len(texts))]
    assert sizes == [len(ref_shingles(t)) for t in texts]
    zh = [k for k, t in enumerate(texts) if rows[k]["source"] == "laws"]
    assert mode[zh].all() and not mode[[k for k, r in enumerate(rows) if r["source"] == "pydocs"]].any()
    pairs = sorted(truth)[:3000]
    i, j = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    np.testing.assert_allclose(jaccard_pairs(hashes, offsets, i, j), [truth[p] for p in pairs])


def test_recall_precision_against_brute_force(real) -> None:
    rows, truth = real
    threshold = 0.8
    true_pairs = {p for p, s in truth.items() if s >= threshold}
    true_docs = {d for p in true_pairs for d in p}
    assert len(true_pairs) >= 40  # natural near-duplicates in the sample plus sentence deletions
    res = run(rows, threshold=threshold)
    pos = {r["id"]: k for k, r in enumerate(rows)}
    removed = [pos[x] for x in res.removed["id"]]
    survivors = [pos[x] for x in res.removed["dup_of"]]
    flagged = set(removed) | set(survivors)
    recall = len(flagged & true_docs) / len(true_docs)
    precision = len(flagged & true_docs) / len(flagged)
    assert recall >= 0.95, recall
    assert precision >= 0.99, precision
    # value is the exact Jaccard to the survivor, dup_of the survivor's id
    for r, s, v in zip(removed, survivors, res.removed["value"], strict=True):
        assert v == pytest.approx(truth[(min(r, s), max(r, s))])
    assert set(res.removed["reason"]) == {"near_duplicate"} and set(res.removed["stage"]) == {"dedup.minhash"}


def test_distinct_real_documents_survive(real) -> None:
    _, truth = real
    docs = real_docs()
    linked = {d for p, s in truth.items() if s >= 0.5 for d in p}
    distinct = [text_row(d["text"]) for k, d in enumerate(docs) if k not in linked]
    assert len(distinct) > 150
    assert run(distinct).removed.height == 0


def test_verification_removes_false_candidates(real) -> None:
    rows, truth = real
    df = frame(rows)
    # a loose LSH (many short bands) proposes many dissimilar pairs; verification rejects them
    loose = {"threshold": 0.8, "bands": 32, "rows_per_band": 2}
    ctx = StageContext(seed=7)
    raw = get("dedup.minhash")({**loose, "verify": False}, ctx=ctx).near_pairs(df)
    checked = get("dedup.minhash")(loose, ctx=ctx).near_pairs(df)
    raw_sims = [truth.get((a, b), 0.0) for a, b in zip(raw.i.tolist(), raw.j.tolist(), strict=True)]
    assert sum(s < 0.8 for s in raw_sims) > 10
    assert checked.i.size > 0 and (checked.sim >= 0.8).all()
    got = [truth[(a, b)] for a, b in zip(checked.i.tolist(), checked.j.tolist(), strict=True)]
    np.testing.assert_allclose(checked.sim, got)
    assert run(rows, verify=False, **loose).removed.height > run(rows, **loose).removed.height


def test_survivor_rules(real) -> None:
    rows, _ = real
    origins = [x["origin"] for x in rows]
    subset = []
    for r in [r for r in rows if r["origin"].endswith(":near")][:12]:
        subset += [dict(rows[origins.index(r["origin"][:-5])], score_q=0.1), dict(r, score_q=0.9)]
    at = {r["id"]: k for k, r in enumerate(subset)}
    first = run(subset)
    assert first.removed.height >= 10
    assert all(at[s] < at[r] for r, s in zip(first.removed["id"], first.removed["dup_of"], strict=True))
    best = run(subset, keep="score_q")
    assert best.removed.height == first.removed.height
    score = {r["id"]: r["score_q"] for r in subset}
    assert all(score[s] == 0.9 for s in best.removed["dup_of"])
    longest = run(subset, keep="longest")
    n_chars = {r["id"]: len(r["text"]) for r in subset}
    for dup_of, rid in zip(longest.removed["dup_of"], longest.removed["id"], strict=True):
        assert n_chars[dup_of] >= n_chars[rid]


def jaccard(a: str, b: str) -> float:
    x, y = ref_shingles(a), ref_shingles(b)
    return len(x & y) / len(x | y)


def test_scope_per_source_vs_global(real) -> None:
    _, truth = real
    docs = real_docs()
    # documents unlike every other real document (links to their own :near variants aside)
    linked = {d for p, s in truth.items() if s >= 0.3 and max(p) < len(docs) for d in p}
    rng = random.Random(0)
    docs = [d for k, d in enumerate(docs) if k not in linked]
    pairs = [(d["text"], drop_a_sentence(d["text"], rng)) for d in docs]
    pairs = [(a, b) for a, b in pairs if b and jaccard(a, b) >= 0.85][:8]
    rows = [text_row(a, source="docs") for a, _ in pairs]
    mirror = [text_row(b, source="mirror") for _, b in pairs[:4]]  # cross-source copies
    rows += mirror + [text_row(b, source="docs") for _, b in pairs[4:]]  # and same-source ones
    both = run(rows)
    per = run(rows, scope="per_source")
    mirror_ids = {r["id"] for r in mirror}
    assert mirror_ids <= set(both.removed["id"])
    assert not mirror_ids & (set(per.removed["id"]) | set(per.removed["dup_of"]))
    assert per.removed.height == 4 and both.removed.height == 8


def test_deterministic_with_seed(real) -> None:
    rows, _ = real
    a, b = run(rows, seed=11), run(rows, seed=11)
    assert a.removed["id"].to_list() == b.removed["id"].to_list()
    assert a.removed["value"].to_list() == b.removed["value"].to_list()
    h1, _, _ = shingle_hashes(frame(rows[:5])["text"], seed=1)
    h2, _, _ = shingle_hashes(frame(rows[:5])["text"], seed=2)
    assert not np.array_equal(h1, h2)


def test_band_shape_from_threshold() -> None:
    for t in (0.5, 0.7, 0.8, 0.9):
        b, r = optimal_bands(t, 128, fp_weight=0.1, fn_weight=0.9)
        assert b * r <= 128
        miss = (1 - t**r) ** b
        assert miss < 0.25  # weighing misses 9:1 keeps the S-curve's knee below the threshold
    assert optimal_bands(0.9, 128)[1] > optimal_bands(0.5, 128)[1]
    assert get("dedup.minhash")({"bands": 16}).band_shape() == (16, 8)


def test_greedy_clustering_removes_only_within_threshold(real) -> None:
    rows, truth = real
    greedy = run(rows, clustering="greedy", threshold=0.8)
    components = run(rows, threshold=0.8)
    assert greedy.removed.height > 0 and min(greedy.removed["value"]) >= 0.8
    assert greedy.removed.height <= components.removed.height
    pos = {r["id"]: k for k, r in enumerate(rows)}
    kept = {pos[x] for x in greedy.kept["id"]}
    true_pairs = [p for p, s in truth.items() if s >= 0.8]
    left = [p for p in true_pairs if p[0] in kept and p[1] in kept]
    assert len(left) <= 0.02 * len(true_pairs)  # only pairs the LSH missed stay together


def test_empty_texts_and_chats_are_never_merged() -> None:
    docs = real_docs()
    q, a = docs[0]["text"], docs[1]["text"]
    rows = [text_row(""), text_row(""), text_row(q), text_row(q + " ")]
    chats = [chat_row([("user", q), ("assistant", a)]), chat_row([("user", q), ("assistant", a + "。")])]
    res = run(rows + chats)
    removed = res.removed["text"].to_list()
    assert "" not in removed  # empty rows have no shingles: exact dedup's job, not this stage's
    assert res.removed.height == 2 and res.removed["kind"].to_list() == ["text", "chat"]
    assert run([]).removed.height == 0 and run([text_row(q)]).removed.height == 0


def scattered_edits(text: str, share: float, rng: random.Random) -> str:
    """``share`` of the characters replaced by other characters of the same text, at random places."""
    chars = list(text)
    for k in rng.sample(range(len(chars)), max(1, round(len(chars) * share))):
        chars[k] = rng.choice(text)
    return "".join(chars)


def test_default_threshold_catches_chinese_copies_with_a_few_edits() -> None:
    # bench/minhash_curve.py: a 2-3 % scattered edit of Chinese leaves character-4-gram Jaccard
    # ~0.75-0.85; the default (0.7, 20 x 6 bands) removes such copies, 0.8 misses many.
    laws = [d["text"] for d in real_docs() if d["source"] == "laws" and len(d["text"]) >= 120][:40]
    rng = random.Random(0)
    rows = [text_row(t) for t in laws] + [text_row(scattered_edits(t, 0.03, rng)) for t in laws]
    assert get("dedup.minhash")({}).band_shape() == (20, 6)
    caught = run(rows).removed.height
    strict = run(rows, threshold=0.8).removed.height
    assert caught >= 0.9 * len(laws) and strict <= 0.7 * len(laws), (caught, strict)


def test_chunked_signatures_give_the_same_pairs(real) -> None:
    """Signatures built a few KB of text at a time (bounded memory, issue 16) find exactly the pairs,
    similarities and survivor shingles of one pass over all rows."""
    import polars as pl

    from curate.text.minhash import byte_chunks, near_pairs

    rows, _ = real
    texts = pl.Series([r["text"] for r in rows])
    assert len(byte_chunks(texts, 4096)) > 10
    kw = dict(threshold=0.8, bands=14, rows=9, seed=7)
    whole, chunked = near_pairs(texts, **kw), near_pairs(texts, chunk_bytes=4096, **kw)
    assert whole.i.size > 0
    for a, b in ((whole.i, chunked.i), (whole.j, chunked.j), (whole.sim, chunked.sim)):
        np.testing.assert_array_equal(a, b)
    # only the rows of candidate pairs keep their shingles, and they are the rows' own shingles
    assert set(chunked.rows) >= set(chunked.i) | set(chunked.j) and chunked.rows.size < len(rows)
    r = int(chunked.i[0])
    h, off, _ = shingle_hashes(texts.slice(r, 1), seed=7)
    k = int(chunked.local(np.array([r]))[0])
    mine = chunked.hashes[chunked.offsets[k] : chunked.offsets[k + 1]]
    np.testing.assert_array_equal(mine, h[off[0] : off[1]])


def test_a_shared_system_prompt_does_not_make_rows_duplicates() -> None:
    """Real LawBench rows of one task share a long few-shot system prompt; their questions and answers
    differ. Compared with the system prompt (field `all`), the default threshold removed many of
    them as near-duplicates (1,788 of 6,396 law rows on the full LawBench + ShareGPT recipe); the
    default compares the turns only."""
    from tests.helpers import lawbench_rows

    rows = [r for r in lawbench_rows(per_task=60).to_dicts() if r["task"].startswith(("2-3", "2-6"))]
    distinct = {(r["messages"][0]["content"], r["messages"][1]["content"]) for r in rows}
    assert len(distinct) == len(rows) and len(rows) >= 100
    default = run(rows).removed
    with_system = run(rows, field="all").removed
    assert with_system.height > 10  # the system prompt alone makes them look alike
    assert default.height <= 2, default.select("origin", "value")
