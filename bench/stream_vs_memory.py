"""The streamed run against the whole-table run of the same recipe, on a corpus that fits (issue 16:
"throughput within 25 % of the in-memory path").

Each turn runs ``curate run RECIPE --no-train --force`` twice in fresh processes, alternating:
``stream`` as shipped (row stages fused shard by shard, dedup deciding from narrow columns, shards
on disk) and ``memory``, the same code with ``LocalExecutor.streams`` off, so every stage gets the
whole table in memory, as before issue 16. Prints wall, user+sys CPU and peak RSS per run, and the
ratios per turn; checks that both runs wrote the same rows.

    python bench/stream_vs_memory.py RECIPE --turns 2 [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys
from curate.pipeline.executors.local import LocalExecutor
LocalExecutor.streams = {streams}
from curate.cli import main
sys.argv = ["curate", "run", {recipe!r}, "--out", {out!r}, "--no-train", "--force"]
main()
"""


def one(mode: str, recipe: str, out: Path) -> dict[str, float]:
    code = CHILD.format(streams=mode == "stream", recipe=recipe, out=str(out / mode))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    timed = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(out / "time.txt")]
    subprocess.run(
        [*timed, sys.executable, "-c", code],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall, user, sys_s, rss_kb = (out / "time.txt").read_text().split()[-4:]
    return {
        "wall": float(wall),
        "cpu": float(user) + float(sys_s),
        "rss": int(rss_kb) / 2**20,
        "load": os.getloadavg()[0],
    }


def rows(out: Path) -> int:
    import polars as pl

    files = sorted(out.glob("output/*.canonical.parquet"))
    return sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in files)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("recipe")
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / ".data" / "stream-vs-memory"))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print("| turn | mode | wall s | CPU s | peak RSS GiB | 1-min load |")
    print("|---|---|---|---|---|---|")
    for turn in range(1, a.turns + 1):
        got = {}
        for mode in ("stream", "memory") if turn % 2 else ("memory", "stream"):
            got[mode] = r = one(mode, a.recipe, out)
            cells = f"{r['wall']:.1f} | {r['cpu']:.1f} | {r['rss']:.2f} | {r['load']:.1f}"
            print(f"| {turn} | {mode} | {cells} |", flush=True)
        s, m = got["stream"], got["memory"]
        ratios = " | ".join(f"{s[k] / m[k]:.2f}x" for k in ("wall", "cpu", "rss"))
        print(f"| {turn} | stream / memory | {ratios} | |", flush=True)
    n = {m: rows(out / m) for m in ("stream", "memory")}
    print(f"rows out: {n}" + ("" if n["stream"] == n["memory"] else "  MISMATCH"))


if __name__ == "__main__":
    main()
