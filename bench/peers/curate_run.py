"""curate side of the benchmark: rule filters, exact dedup and MinHash dedup on the corpus JSONL.

Runs in the project venv. Row stages are polars expressions (polars uses every core, here 2);
dedup.minhash runs its compiled kernels on ``workers`` threads.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import polars as pl
from common import Timer, emit

from curate.cli.startup import process_setup
from curate.pipeline.registry import get
from curate.pipeline.stage import StageContext
from curate.schema import conform

RULES_DJ = [  # Data-Juicer's six text filters with their default thresholds
    ("filter.length", "curate.stages.filter.length", {"min_chars": 10}),
    ("filter.words", "curate.stages.filter.size", {"min_words": 10}),
    ("filter.ratios", "curate.stages.filter.ratios", {"min_alnum_ratio": 0.25, "max_special_ratio": 0.25}),
    (
        "filter.repetition",
        "curate.stages.filter.repetition",
        {
            "char_ngram_chars": 10,
            "word_ngram_words": 10,
            "max_char_rep_ratio": 0.5,
            "max_word_rep_ratio": 0.5,
            "max_dup_line_frac": None,
        },
    ),
]
RULES_DT = [  # datatrove's four quality filters, defaults on both sides
    ("filter.gopher_quality", "curate.stages.filter.gopher", {}),
    ("filter.gopher_repetition", "curate.stages.filter.gopher", {}),
    ("filter.c4", "curate.stages.filter.web", {}),
    ("filter.fineweb", "curate.stages.filter.web", {}),
]


def stage(name: str, module: str, cfg: dict, workers: int):
    importlib.import_module(module)
    return get(name)(cfg, ctx=StageContext(seed=42, workers=workers))


def load(path: str) -> pl.DataFrame:
    raw = pl.read_ndjson(path)
    return conform(raw.with_columns(kind=pl.lit("text"), source=pl.lit("bench"), messages=pl.lit([])))


def sketch(path: str, out: Path, workers: int) -> None:
    """Signatures alone, on shingle hashes saved for rensa's flat-hash API (best of 3 runs)."""
    import numpy as np

    from curate.fields import field_text
    from curate.text.lsh import signatures
    from curate.text.shingles import shingle_hashes

    df = load(path)
    with Timer() as sh:
        hashes, offsets, _ = shingle_hashes(df.select(field_text("all"))[:, 0], seed=42, workers=workers)
    np.save(out / "hashes.npy", hashes)
    np.save(out / "offsets.npy", offsets)
    best = float("inf")
    for _ in range(3):
        with Timer() as t:
            signatures(hashes, offsets, num_perm=128, seed=42, workers=workers)
        best = min(best, t.s)
    emit(
        {
            "docs_in": df.height,
            "docs_kept": df.height,
            "core_s": best,
            "total_s": best,
            "shingle_s": sh.s,
            "shingles": int(hashes.size),
        }
    )


def main() -> None:
    process_setup()  # what the `curate` command does at start: the figures are the CLI's
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["rules_dj", "rules_dt", "exact", "minhash", "quality", "sketch"])
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--clustering", default="components", choices=["components", "greedy"])
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.task == "sketch":
        return sketch(a.input, out, a.workers)
    with Timer() as total:
        df = load(a.input)
        n_in = df.height
        with Timer() as core:
            if a.task in ("rules_dj", "rules_dt"):
                for name, module, cfg in RULES_DJ if a.task == "rules_dj" else RULES_DT:
                    df = stage(name, module, cfg, a.workers).apply(df).kept
            elif a.task == "exact":
                df = stage("dedup.exact", "curate.stages.dedup.exact", {}, a.workers).apply(df).kept
            else:
                cfg = {"threshold": a.threshold, "clustering": a.clustering}
                mh = stage("dedup.minhash", "curate.stages.dedup.minhash", cfg, a.workers)
                res = mh.apply(df)
        if a.task == "quality":  # found pairs, and (removed row, its survivor), as input row numbers
            found = mh.near_pairs(df)
            (out / "pairs.json").write_text(
                json.dumps(list(zip(found.i.tolist(), found.j.tolist(), strict=True)))
            )
            pos = {x: k for k, x in enumerate(df["origin"])}
            surv = res.kept.select(pl.col("id").alias("dup_of"), pl.col("origin").alias("so"))
            linked = res.removed.join(surv, on="dup_of", how="left", maintain_order="left")
            pairs = [[pos[o], pos[s]] for o, s in zip(linked["origin"], linked["so"], strict=True)]
            (out / "removed.json").write_text(json.dumps(pairs))
        if a.task in ("minhash", "quality"):
            df = res.kept
        df.select("id", "text").write_ndjson(out / "kept.jsonl")
    emit({"docs_in": n_in, "docs_kept": df.height, "core_s": core.s, "total_s": total.s})


if __name__ == "__main__":
    main()
